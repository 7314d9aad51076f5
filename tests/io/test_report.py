import numpy as np

from fields3d.io.report import colorize_depth


def test_colorize_depth_on_a_shared_range_colours_equal_depths_alike_and_missing_black():
    near = np.array([[1.0, 2.0], [np.nan, 0.0]])
    far = np.array([[2.0, 4.0], [3.0, -1.0]])
    a, b = colorize_depth(near, (1.0, 4.0)), colorize_depth(far, (1.0, 4.0))
    assert np.allclose(a[0, 1], b[0, 0])  # depth 2 in both maps
    assert (a[1] == 0).all() and (b[1, 1] == 0).all()  # NaN, 0 and negative are missing
    assert a[0, 0, 0] > b[0, 1, 0] and a[0, 0, 2] < b[0, 1, 2]  # near warm, far blue
    # without a range each map spans its own percentiles: the nearest value of each is equally warm
    assert np.allclose(colorize_depth(near)[0, 0], colorize_depth(far)[0, 0])
