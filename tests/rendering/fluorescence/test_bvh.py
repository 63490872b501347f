"""The static BVH's exact occlusion rays against VTK ray casting."""

from __future__ import annotations

import numpy as np

from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.bvh import MeshBVH, occluded_by_rays
from rendering.fluorescence.nir_camera import image_from_camera_looking_at
from tests.rendering import scenes


def test_hierarchy_covers_every_triangle_once_and_boxes_nest():
    mesh = scenes.corrugated_scene(2.0, sphere_resolution=30)
    bvh = MeshBVH.build(mesh.vertices_in_image, mesh.triangles)
    leaves = bvh.children[:, 0] < 0
    covered = np.concatenate([bvh.order[a:b] for a, b in bvh.ranges[leaves]])
    np.testing.assert_array_equal(np.sort(covered), np.arange(len(mesh.triangles)))
    corners = mesh.vertices_in_image[mesh.triangles]
    for node in np.flatnonzero(leaves)[:200]:
        a, b = bvh.ranges[node]
        inside = corners[bvh.order[a:b]].reshape(-1, 3)
        assert (inside >= bvh.boxes[node, 0] - 1e-9).all()
        assert (inside <= bvh.boxes[node, 1] + 1e-9).all()
    for node in np.flatnonzero(~leaves):
        for child in bvh.children[node]:
            assert (bvh.boxes[child, 0] >= bvh.boxes[node, 0]).all()
            assert (bvh.boxes[child, 1] <= bvh.boxes[node, 1]).all()


def test_rays_agree_with_vtk_ray_casting_on_every_vertex():
    """Every third vertex, front- or back-facing. (A camera exactly in the plane of the sheet's
    border would make rays run along border edges, where edge-inclusive tests like ours and
    VTK's differ: a measure-zero case avoided here.)"""
    mesh = scenes.corrugated_scene(1.0, sphere_resolution=40)
    image_from_camera = image_from_camera_looking_at((220.0, 37.3, 160.0), (0, 0, 0),
                                                     up_in_image=(0, 1, 0))  # fmt: skip
    camera_from_image = invert_rigid(image_from_camera)
    cam = apply_transform(camera_from_image, mesh.vertices_in_image)
    indices = np.arange(0, mesh.vertex_count, 3)
    bvh = mesh.bvh()
    ours = occluded_by_rays(indices, image_from_camera[:3, 3], mesh.vertices_in_image, cam,
                            mesh.triangles, bvh.boxes, bvh.children, bvh.ranges, bvh.order,
                            1e-6, 1e-9)  # fmt: skip
    reference = scenes.ray_cast_occluded(mesh, camera_from_image, indices)
    assert 0.2 < reference.mean() < 0.9  # back faces count too: plenty of both verdicts
    np.testing.assert_array_equal(ours, reference)
