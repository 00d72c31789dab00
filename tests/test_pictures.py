"""Pictures readable at a glance: gaps no filter shares, and a style of its own for every curve."""

import numpy as np
import pytest

from bench import pictures


@pytest.mark.unit
@pytest.mark.parametrize("depth", [1, 3])
def test_filter_gaps_are_a_colour_no_filter_pixel_has(tmp_path, depth):
    import matplotlib.image

    filters = np.random.default_rng(0).uniform(0, 1, (16, 5, 5, depth)).astype(np.float32)
    filters[0, 0, 0] = 1.0  # white pixels: white gaps would merge into them
    gap = pictures.separator_colour(filters)
    pixels = np.repeat(filters, 3, -1) if depth == 1 else filters
    # no grey is near magenta; among colours that fill the cube, the gap is at least none of them
    assert np.min(np.linalg.norm(pixels.reshape(-1, 3) - gap, axis=1)) > (0.5 if depth == 1 else 0.0)
    pictures.save_filters(tmp_path / "filters.png", filters, "filters")
    drawn = matplotlib.image.imread(tmp_path / "filters.png")[..., :3]
    assert np.any(np.all(np.abs(drawn - gap) < 0.02, axis=-1))  # the gaps are drawn in it


@pytest.mark.unit
@pytest.mark.parametrize("count", [3, 40, 100])
def test_every_curve_of_a_plot_has_a_style_of_its_own(count):
    styles = pictures.line_styles(count)
    assert len(styles) == count
    assert len({(str(style["color"]), style["linestyle"], style["marker"]) for style in styles}) == count
    assert len({str(style["color"]) for style in styles}) == min(count, 10) or count > 40
