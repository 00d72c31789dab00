"""bench's models against plain-Keras rebuilds of their sources (benchmarks/sources.py):
the same layers in the same order with the same settings, output shapes,
initialisers and parameter counts, the same L2 term, the same pixel range and
loss, and the same reconstruction when given the same weights."""

import math
from pathlib import Path

import numpy as np
import pytest

from bench import plugins
from conftest import bench, tf

MNIST, CIFAR = (28, 28, 1), (32, 32, 3)
REBUILT = ("SingleLayerCAE", "StackedCAE", "StackedDenoisingCAE", "FullyConnectedAE", "ConvAE", "UndercompleteCAE")
"""The models benchmarks/sources.py rebuilds (named here: importing it imports Keras)."""
CASES = [(name, MNIST) for name in REBUILT] + [("SingleLayerCAE", CIFAR), ("ConvAE", CIFAR)]


def rebuilds():
    from benchmarks import sources

    assert tuple(sources.REBUILDS) == REBUILT
    return sources.REBUILDS


def computing():
    import keras

    return keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense, keras.layers.MaxPooling2D
SETTINGS = ("filters", "units", "kernel_size", "strides", "padding", "activation", "use_bias", "pool_size")
LOSSES = {"mse": "half_mse", "cross_entropy": "sigmoid_cross_entropy"}


def initializer(layer, name):
    """An initialiser by what it draws (HeNormal and VarianceScaling(2, fan_in, truncated_normal) are one)."""
    init = getattr(layer, name, None)
    if init is None:
        return None
    import keras

    if isinstance(init, keras.initializers.VarianceScaling):
        return ("VarianceScaling", init.scale, init.mode, init.distribution)
    return type(init).__name__


def describe(layer, output):
    config = layer.get_config()
    return {"type": type(layer).__name__, "settings": {k: config[k] for k in SETTINGS if k in config},
            "kernel_init": initializer(layer, "kernel_initializer"), "bias_init": initializer(layer, "bias_initializer"),
            "weights": [tuple(w.shape) for w in layer.weights], "output": tuple(output.shape[1:])}


def bench_model(name, shape, **options):
    from bench.model import building

    return building.build_model(plugins.find("model", name), shape, **options)


def bench_layers(model, images):
    """bench's computing layers in the order `get` calls them, with their first outputs."""
    from bench.model import architecture

    recorded = architecture.record_layers(model, images)
    return [(layer, output) for layer, _, output in recorded.values() if isinstance(layer, computing())]


def reference_layers(reference):
    return [(layer, layer.output) for layer in reference.model.layers if isinstance(layer, computing())]


def sample_images(model, reference, seed=0):
    low, high = reference.pixel_range
    shape = (3,) + tuple(reference.model.input_shape[1:])
    return tf.random.stateless_uniform(shape, (seed, 1), low, high)


@pytest.mark.parametrize("name,shape", CASES, ids=[f"{n}-{s[-1]}ch" for n, s in CASES])
def test_layers_initialisers_and_counts_equal_the_source(name, shape):
    model, reference = bench_model(name, shape), rebuilds()[name](shape)
    images = sample_images(model, reference)
    ours = [describe(layer, output) for layer, output in bench_layers(model, images)]
    theirs = [describe(layer, output) for layer, output in reference_layers(reference)]
    assert len(ours) == len(theirs)
    for index, (mine, source) in enumerate(zip(ours, theirs)):
        assert mine == source, f"layer {index} of {name}"
    assert sum(math.prod(w.shape) for w in model.weights) == reference.model.count_params()
    assert model.pixel_range == reference.pixel_range
    if not name.startswith("Stacked"):  # the stacked models sum their blocks' ½·mse
        assert LOSSES[model.loss_kind] == reference.loss


@pytest.mark.parametrize("name,shape", CASES, ids=[f"{n}-{s[-1]}ch" for n, s in CASES])
def test_same_weights_give_the_same_reconstruction_and_l2(name, shape):
    model, reference = bench_model(name, shape), rebuilds()[name](shape)
    images = sample_images(model, reference, seed=1)
    pairs = list(zip(bench_layers(model, images), reference_layers(reference)))
    for (mine, _), (source, _) in pairs:
        source.set_weights(mine.get_weights())
    _, reconstruction, terms = model.forward(images, l2_penalty=1.0)
    l2 = float(terms["l2"])
    expected = reference.model(images, training=False)
    if reference.output == "logits":
        expected = tf.sigmoid(expected)
    np.testing.assert_allclose(reconstruction.numpy(), expected.numpy(), atol=2e-6)
    assert l2 == pytest.approx(float(sum(tf.nn.l2_loss(kernel) for kernel in reference.regularized)), rel=1e-6)


def test_initialisers_draw_he_by_default_and_glorot_on_request():
    """The "init" option reaches every kernel, and "he_normal" draws with He's variance 2/fan_in."""
    he = bench_model("SingleLayerCAE", MNIST)
    glorot = bench_model("SingleLayerCAE", CIFAR, model_args={"init": "glorot_uniform"})
    fan_in = 3 * 3 * 3
    kernel = glorot.encoder.kernel.numpy()
    assert np.abs(kernel).max() <= math.sqrt(6 / (fan_in + 3 * 3 * 32)) + 1e-7  # glorot_uniform's bound
    big = bench_model("ConvAE", (64, 64, 16))  # many weights: a tight estimate
    weights = big.encoder[1].kernel.numpy()
    assert np.var(weights) == pytest.approx(2 / (3 * 3 * 16), rel=0.1)
    assert all(not np.any(b.numpy()) for b in he.weights if b.path.endswith("bias"))


def test_inspect_gives_the_tutorials_parameter_counts():
    for model, count, code in (("FullyConnectedAE", "222,384", "(32,), 32 numbers"),
                               ("ConvAE", "7,873", "(4, 4, 8), 128 numbers")):
        result = bench("inspect", "--model", model, "--dataset", "MNIST")
        assert f"total parameters: {count} " in result.stdout, result
        assert f"code: {code} per image; the model has decode" in result.stdout, result


def test_a_pixel_range_that_is_neither_is_one_clear_line(tmp_path):
    from conftest import assert_one_line_error

    result = bench("train", "--model", "ConvAE", "--dataset", "Digits", "--epochs", "1", "--log-dir", str(tmp_path),
                   "--model-args", '{"pixel_range": [0, 255]}')
    assert_one_line_error(result, "pixel_range must be [-1, 1] or [0, 1], got [0.0, 255.0]")
    assert not any(tmp_path.iterdir())


CONFIG_FOLDER = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIG_FOLDER.glob("*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_states_its_source_and_both_figures(path):
    """The header names the source, its published figure and bench's own, with a seed spread."""
    from bench.run.config import TrainConfig, read_yaml_mapping
    from bench.run.planning import plan_run

    header = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert "Source" in header and "Published:" in header, path
    assert "bench here" in header and "±" in header and "seeds" in header, path
    plan = plan_run(TrainConfig.from_point(read_yaml_mapping(path)))
    assert not plan.finished and f"/{yaml_model(path)}/" in plan.folder


def yaml_model(path):
    import yaml

    return yaml.safe_load(path.read_text())["model"]


def test_a_config_trains_through_the_cli_with_tf1_defaults(tmp_path):
    """`bench train --config` takes the tutorial's settings; AdamOptimizer brings TF 1's epsilon."""
    import yaml

    result = bench("train", "--config", CONFIG_FOLDER / "tutorial-fc-mnist.yaml", "--dataset", "Digits", "--epochs", "1",
                   "--log-dir", tmp_path)
    assert result.exit_code == 0, result
    (run,) = (path for path in (tmp_path / "FullyConnectedAE").iterdir() if not path.name.startswith("."))
    assert run.name == "Digits_Adam_lr=0.001_exp_lr_l2=1e-05_bs=256_decay_epochs=5_decay_factor=0.96_epsilon=1e-08_epochs=1"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["optimizer_args"] == {"learning_rate": 0.001, "epsilon": 1e-08}
    assert (config["batch_size"], config["l2_penalty"], config["lr_decay_epochs"]) == (256, 1e-05, 5)


@pytest.mark.parametrize("name", ["FullyConnectedAE", "UndercompleteCAE"])
def test_a_zero_one_model_reports_its_error_on_the_stated_scale(zoo_runs, name):
    """The run's validation error, recomputed by hand from the best checkpoint: the model
    works on [0, 1], the reported error is ½·mean((x − x̃)²) on [-1, 1], mse is on [0, 1]."""
    from bench.model import checkpoints
    from bench.console import Reporter
    from conftest import read_results

    _, runs, _ = zoo_runs
    model = bench_model(name, (8, 8, 1))
    assert model.pixel_range == (0.0, 1.0)
    weights, _ = checkpoints.model_groups(model)
    checkpoints.load_weights(checkpoints.latest(runs[name] / "best"), weights)
    images, _ = plugins.find("dataset", "Digits").load()(Path("."), Reporter(interactive=False)).load("validation")
    unit = tf.cast(images, tf.float32) / 255.0
    if model.input_size:
        unit = tf.image.resize(unit, model.input_size, method="bilinear")
    _, reconstruction = model.get(unit)
    error = 0.5 * float(tf.reduce_mean(tf.square((2.0 * reconstruction - 1.0) - (2.0 * unit - 1.0))))
    reported = read_results(runs[name])["best"]["validation"]
    assert reported["error"] == pytest.approx(error, rel=1e-5)
    assert reported["mse"] == pytest.approx(error / 2, rel=1e-6)
