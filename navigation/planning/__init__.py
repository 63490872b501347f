"""The planner's pipeline: phantom, segmentation, meshing, label tables and the plan folder."""
