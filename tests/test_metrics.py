"""The metrics table (bench.model.metrics): what it derives, and SSIM against a reference
written here from Wang et al. (2004)."""

import numpy as np
import pytest

from bench.model import metrics
from bench.run.results import MEASUREMENT
from bench.schema import Invalid

PROVENANCE = {"checkpoint": "best", "epoch": 1, "step": 10, "split": "test"}


@pytest.mark.unit
def test_every_place_a_metric_appears_is_derived_from_the_table():
    from bench.study import pruning
    from bench.study import columns, render

    for metric in metrics.METRICS:
        assert pruning.OBJECTIVES[f"validation_{metric.name}"] == metric.direction
        assert columns.RECONSTRUCTION[f"test_{metric.name}"].higher_is_better == metric.higher_is_better
        assert f"{metric.name}: {metric.short}" in render.LEGEND
    assert pruning.OBJECTIVES["validation_ssim"] == "maximize" and pruning.OBJECTIVES["validation_error"] == "minimize"
    values = metrics.from_sums({"squared_error": (8.0, 100.0), "ssim": (4.5, 5.0)})
    assert values == {"error": 0.04, "mse": 0.02, "psnr": pytest.approx(16.9897), "ssim": 0.9}


@pytest.mark.unit
def test_a_measurement_without_ssim_is_an_older_run_s_and_a_wrong_one_is_refused():
    MEASUREMENT({"error": 0.1, "mse": 0.05, "psnr": 13.0, **PROVENANCE}, "best.test")  # before SSIM
    MEASUREMENT({"error": 0.1, "mse": 0.05, "psnr": 13.0, "ssim": 0.7, **PROVENANCE}, "best.test")
    with pytest.raises(Invalid, match="ssim is 1.5, outside"):
        MEASUREMENT({"error": 0.1, "mse": 0.05, "psnr": 13.0, "ssim": 1.5, **PROVENANCE}, "best.test")
    with pytest.raises(Invalid, match="psnr"):
        MEASUREMENT({"error": 0.1, "mse": 0.05, **PROVENANCE}, "best.test")


def reference_ssim(first, second, window=11, sigma=1.5):
    """Mean SSIM of two (h, w) images on [0, 1]: Gaussian-weighted local means, variances and
    covariance over each full window (no padding), K1 = 0.01, K2 = 0.03, L = 1."""
    from scipy.signal import correlate2d

    axis = np.arange(window) - (window - 1) / 2
    gauss = np.exp(-axis ** 2 / (2 * sigma ** 2))
    kernel = np.outer(gauss, gauss) / np.outer(gauss, gauss).sum()
    local = lambda image: correlate2d(image, kernel, mode="valid")  # noqa: E731
    mean_x, mean_y = local(first), local(second)
    var_x, var_y = local(first * first) - mean_x ** 2, local(second * second) - mean_y ** 2
    covariance = local(first * second) - mean_x * mean_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / ((mean_x ** 2 + mean_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


@pytest.mark.parametrize("size, depth", [(28, 1), (8, 1), (32, 3)])
def test_ssim_agrees_with_a_reference_and_is_one_for_a_perfect_copy(size, depth):
    import tensorflow as tf

    generator = np.random.default_rng(0)
    images = generator.uniform(-1, 1, (3, size, size + 3, depth)).astype(np.float32)
    blurred = (0.6 * images + 0.4 * np.roll(images, 1, axis=1)).astype(np.float32)
    total, count = metrics.SUMS["ssim"](tf.constant(images), tf.constant(blurred))
    window = min(11, size)
    expected = np.mean([reference_ssim((a[..., c] + 1) / 2, (b[..., c] + 1) / 2, window)
                        for a, b in zip(images, blurred) for c in range(depth)])  # channels weigh alike
    assert float(count) == 3 and float(total) / 3 == pytest.approx(expected, abs=1e-4)
    same, _ = metrics.SUMS["ssim"](tf.constant(images), tf.constant(images))
    assert float(same) / 3 == pytest.approx(1.0, abs=1e-5)
    unit = lambda values: tf.constant((values + 1) / 2)  # noqa: E731
    by_tensorflow = tf.image.ssim(unit(images), unit(blurred), max_val=1.0, filter_size=window)
    assert float(total) / 3 == pytest.approx(float(tf.reduce_mean(by_tensorflow)), abs=1e-5)
