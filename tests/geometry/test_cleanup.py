import numpy as np
import pytest
import trimesh

from fields3d.geometry.cleanup import (
    CleanupConfig,
    clean_mesh,
    component_labels,
    merge_close_vertices,
    remove_degenerate_faces,
    remove_duplicate_faces,
    remove_small_components,
)


def _split_square(jitter=0.0):
    """Unit square as two triangles that do not share vertices (6 vertices), one corner copy jittered."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64)
    v[3] += jitter
    colors = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4)
    return trimesh.Trimesh(v, [[0, 1, 2], [3, 4, 5]], vertex_colors=colors, process=False)


def test_merge_coincident_and_close_vertices():
    mesh = _split_square(jitter=1e-7)
    assert len(merge_close_vertices(mesh, 0.0).vertices) == 5  # only the exact copy merges
    merged = merge_close_vertices(mesh, 1e-6)
    assert len(merged.vertices) == 4 and len(merged.faces) == 2
    assert np.allclose(merged.vertices[merged.faces].reshape(-1, 3)[[0, 2, 3, 4]],
                       [[0, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0]])
    # the lowest-index vertex of each group keeps its colour
    assert np.array_equal(merged.visual.vertex_colors[:3], mesh.visual.vertex_colors[:3])
    assert component_labels(merged).tolist() == [0, 0]
    assert component_labels(mesh).tolist() == [0, 1]
    assert len(mesh.vertices) == 6  # the input is not modified


def test_merge_removes_collapsed_faces_and_chains():
    v = np.array([[0, 0, 0], [0.4, 0, 0], [0.8, 0, 0], [0, 5, 0]], dtype=np.float64)
    mesh = trimesh.Trimesh(v, [[0, 2, 3], [0, 1, 3]], process=False)
    merged = merge_close_vertices(mesh, 0.5)  # 0-1 and 1-2 linked: a chain -> one vertex
    assert len(merged.vertices) == 2 and len(merged.faces) == 0
    with pytest.raises(ValueError, match="tolerance"):
        merge_close_vertices(mesh, -1.0)


def test_remove_degenerate_faces():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [0, 0, 1e-3]], dtype=np.float64)
    faces = [[0, 1, 2], [0, 1, 1], [0, 1, 3], [0, 1, 4]]  # good, repeated index, collinear, thin
    mesh = trimesh.Trimesh(v, faces, process=False)
    assert remove_degenerate_faces(mesh).faces.tolist() == [[0, 1, 2], [0, 1, 4]]
    assert remove_degenerate_faces(mesh, area_tolerance=1e-3).faces.tolist() == [[0, 1, 2]]


def test_remove_duplicate_faces_keeps_first_and_order():
    v = np.eye(3)
    v = np.vstack([v, [[1, 1, 1]]])
    faces = [[0, 1, 2], [1, 2, 3], [2, 1, 0], [1, 2, 0], [1, 2, 3]]
    mesh = trimesh.Trimesh(v, faces, face_colors=np.arange(20, dtype=np.uint8).reshape(5, 4), process=False)
    out = remove_duplicate_faces(mesh)
    assert out.faces.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert np.array_equal(out.visual.face_colors, mesh.visual.face_colors[:2])


def _box_and_small_tetra():
    box = trimesh.creation.box(extents=(2, 2, 2))  # 12 faces, area 24
    tetra = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    tetra.apply_translation([5, 0, 0])
    tetra = trimesh.Trimesh(tetra.vertices, tetra.faces[:4], process=False)  # 4 faces, open
    return trimesh.util.concatenate([box, tetra])


def test_remove_small_components_by_faces_area_and_largest():
    mesh = _box_and_small_tetra()
    assert component_labels(mesh).tolist() == [0] * 12 + [1] * 4
    by_faces = remove_small_components(mesh, min_face_fraction=0.3)  # tetra holds 4/16 = 0.25
    assert len(by_faces.faces) == 12 and len(by_faces.vertices) == 8
    assert len(remove_small_components(mesh, min_face_fraction=0.2).faces) == 16
    assert len(remove_small_components(mesh, min_area_fraction=0.01).faces) == 12
    assert len(remove_small_components(mesh, min_area_fraction=1e-4).faces) == 16
    assert len(remove_small_components(mesh, keep_largest_only=True).faces) == 12
    with pytest.raises(ValueError, match="min_face_fraction in"):
        remove_small_components(mesh, min_face_fraction=2.0)
    with pytest.raises(ValueError, match="connectivity in"):
        remove_small_components(mesh, connectivity="face")


def test_vertex_and_edge_connectivity_differ_for_a_bow_tie():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=np.float64)
    bow_tie = trimesh.Trimesh(v, [[0, 1, 2], [0, 3, 4]], process=False)  # two triangles sharing vertex 0
    assert component_labels(bow_tie, "vertex").tolist() == [0, 0]
    assert component_labels(bow_tie, "edge").tolist() == [0, 1]


def test_clean_mesh_report():
    mesh = _split_square()
    vertices = np.vstack([mesh.vertices, [[9, 9, 9]]])
    mesh = trimesh.Trimesh(vertices, np.vstack([mesh.faces, [[0, 1, 2], [0, 0, 1]]]), process=False)
    out, report = clean_mesh(mesh)
    assert len(out.vertices) == 4 and len(out.faces) == 2
    assert report.vertices_merged == 2
    assert report.degenerate_faces == 1 and report.duplicate_faces == 1
    assert report.unreferenced_vertices == 1  # the lone (9, 9, 9)
    config = CleanupConfig(merge_tolerance=None, keep_largest_only=True)
    out, report = clean_mesh(_box_and_small_tetra(), config)
    assert len(out.faces) == 12 and report.component_faces == 4


def test_real_meshes_components(shared_data):
    from fields3d.io.mesh import read_mesh

    # component counts of reference_meshes/SOURCE.md (vertex connectivity)
    teapot = read_mesh(shared_data("reference_meshes") / "teapot.obj")
    assert component_labels(teapot).max() + 1 == 4
    assert component_labels(teapot, "edge").max() + 1 == 19  # patches touching only at vertices
    largest = remove_small_components(teapot, keep_largest_only=True)
    assert 0 < len(largest.faces) < len(teapot.faces)
    assert component_labels(largest).max() == 0
    beetle = read_mesh(shared_data("reference_meshes") / "beetle.obj")
    # 47 non-manifold edges still connect their faces
    assert component_labels(beetle).max() + 1 == 2 and component_labels(beetle, "edge").max() + 1 == 2
    cleaned, _ = clean_mesh(beetle)
    assert len(cleaned.faces) <= len(beetle.faces) and len(cleaned.faces) > 0.9 * len(beetle.faces)
