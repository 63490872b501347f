"""The planner's review of a plan (``igcs review PLAN``): the logic, free of Qt.

:mod:`~navigation.review.model` holds the one state the review window shows (the plan's
labels, landmarks, tumour, thresholds, display and the edit log); the operations it runs live
in their own modules (label corrections, the landmark layout's predicted TRE, saving, the 3D
Slicer round trip). The widgets in :mod:`navigation.app.review_window` hold no state: they
read the model and call it, as 3D Slicer's scripted modules keep logic apart from widgets.
"""
