"""The model zoo: every model learns colour images through the CLI, and has its penalties."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import (BUILTIN_MODELS, assert_one_line_error, bench, planned, read_results, run_dir, scalar_values,
                      write_plugin, tf)

MODELS = BUILTIN_MODELS

# 32 smooth colour images, CIFAR-10's channels: training goes over them 100 times an
# epoch, and validation and test are the same images, so the recorded error measures how
# well the model fits what it saw.
COLOUR = '''
    import numpy as np
    from bench import Input

    class Colour(Input):
        """32 smooth 16x16 colour images, trained on and then measured."""
        image_shape = (16, 16, 3)
        num_classes = 10

        def load(self, split):
            coarse = np.random.default_rng(0).integers(0, 256, (32, 2, 2, 3)).astype(np.uint8)
            images, labels = coarse.repeat(8, axis=1).repeat(8, axis=2), np.arange(32) % 10
            repeats = 100 if split == "train" else 1
            return np.tile(images, (repeats, 1, 1, 1)), np.tile(labels, repeats)
    '''
COLOURS = np.random.default_rng(0).integers(0, 256, (32, 2, 2, 3)) / 127.5 - 1
COLOUR_BLIND_ERROR = 0.5 * np.mean((COLOURS - COLOURS.mean(axis=-1, keepdims=True)) ** 2)
"""The error of the best reconstruction that sees no colour (each pixel's own grey level)."""

# Fitting, not generalisation, is under test: the stacked models' regularizers
# (dropout, input noise) are off, and their greedy blocks (three of nine: each block
# is the same code) get a faster rate, as does the VAE, whose samples slow it.
OVERFIT_SETTINGS = {
    "StackedCAE": ({"dropout": 0.0, "blocks": 3}, 1e-2),
    "StackedDenoisingCAE": ({"dropout": 0.0, "noise": 0.0, "blocks": 3}, 1e-2),
    "VAE": ({}, 6e-3),
}


def build(name, shape=(8, 8, 1), **options):
    from bench import plugins
    from bench.model.building import build_model

    return build_model(plugins.find("model", name), shape, model_args=options)


@pytest.mark.extras
@pytest.mark.parametrize("model", MODELS)
def test_every_model_overfits_colour_images_through_the_cli(workspace, model):
    """In 200 steps every model learns 32 colour images through `bench train`: the error it
    records on them ends below what any colour-blind reconstruction could reach (and below
    its first epoch's); the model was built for three channels and draws its pictures in
    colour. (Every model's training on Digits is the shared `zoo_runs`, checked in
    test_reload.py.)"""
    write_plugin(workspace / "inputs", "Colour", COLOUR)
    options, learning_rate = OVERFIT_SETTINGS.get(model, ({}, 3e-3))
    result = bench("train", "-m", model, "-d", "Colour", "--epochs", "2", "--batch-size", "32",
                   "--model-args", json.dumps(options), "--optimizer-args", json.dumps({"learning_rate": learning_rate}))
    assert result.exit_code == 0, result
    run = next((workspace / "log" / model).glob("Colour_*"))
    errors = [epoch["validation_error"] for epoch in read_results(run)["history"]]
    assert errors[-1] < min(COLOUR_BLIND_ERROR, errors[0]), (model, COLOUR_BLIND_ERROR, errors)
    # built for three channels: a kernel reads or writes them (a convolution's last two sizes, a dense layer's)
    weights = json.loads((run / "model.json").read_text())["weights"]
    assert any(3 in shape[-2:] or 16 * 16 * 3 in shape for path, shape in weights.items() if path.endswith("kernel"))
    picture = np.asarray(Image.open(run / "reconstructions.png").convert("RGB"), np.int16)
    assert np.abs(picture[..., 0] - picture[..., 1]).max() > 30  # the images and their reconstructions in colour


@pytest.mark.parametrize("model, options, name", [
    ("SparseAE", {"sparsity": "kl"}, "sparsity"),
    ("SparseAE", {"sparsity": "l1"}, "sparsity"),
    ("ContractiveAE", {}, "contractive"),
    ("VAE", {}, "kl"),
])
def test_penalties_are_there_when_enabled_and_zero_when_disabled(model, options, name):
    images = tf.random.uniform((4, 8, 8, 1), -1, 1)
    net = build(model, **options)
    terms = net.forward(images, train_phase=True, l2_penalty=0.0).terms
    assert float(terms[name]) > 0 and "l2" not in terms
    assert float(net.forward(images, train_phase=True, l2_penalty=1e-3).terms["l2"]) > 0
    off = build(model, **options, **{"beta" if model == "VAE" else "strength": 0.0})
    assert float(off.forward(images, train_phase=True).terms.get(name, 0.0)) == 0.0


def test_contractive_penalty_is_the_exact_jacobian_norm():
    net = build("ContractiveAE", code_size=12)
    x = tf.random.uniform((3, 64), -1, 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = net.encoder(x)
    jacobian = tape.batch_jacobian(code, x)
    exact = tf.reduce_sum(tf.square(jacobian), axis=[1, 2])
    np.testing.assert_allclose(net.jacobian_norm(code).numpy(), exact.numpy(), rtol=1e-5)


@pytest.mark.parametrize("args, total", [
    (("-m", "FullyConnectedAE", "-d", "MNIST"), "222,384"),
    (("-m", "ConvAE", "-d", "MNIST"), "7,873"),
])
def test_inspect_totals(workspace, args, total):
    result = bench("inspect", *args)
    assert result.exit_code == 0, result
    assert f"total parameters: {total}" in result.stdout
    assert "options (--model-args, as JSON, defaults shown): " in result.stdout and 'loss="' in result.stdout
    assert not Path("log").exists() and not list(Path(workspace).parent.glob("cache/*"))  # nothing downloaded


@pytest.mark.parametrize("dataset, weights", [("MNIST", 288), ("Cifar10", 864)])
def test_inspect_single_layer_cae_encoder(workspace, dataset, weights):
    result = bench("inspect", "-m", "SingleLayerCAE", "-d", dataset)
    encode = next(line for line in result.stdout.splitlines() if "encode" in line)
    assert re.search(rf"\b{weights}\b", encode), encode


@pytest.mark.unit
def test_inspect_a_model_alone_shows_its_options_and_defaults(workspace):
    """What `bench list` ends with works as shown: no dataset needed for a model's options."""
    result = bench("inspect", "--model", "ConvAE")
    assert result.exit_code == 0, result
    assert "filters=[16, 8, 8]" in result.stdout and 'downsample="pool" (one of "pool", "stride")' in result.stdout
    assert "bench inspect --model ConvAE --dataset DATASET" in result.stdout
    assert_one_line_error(bench("inspect"), "needs --model, --dataset or both", exit_code=2)


def test_inspect_with_options_and_resizing(workspace):
    result = bench("inspect", "-m", "ConvAE", "-d", "MNIST", "--model-args", '{"filters": [32, 16, 8], "downsample": "stride"}')
    assert result.exit_code == 0 and 'downsample="stride"' in result.stdout
    undercomplete = bench("inspect", "-m", "UndercompleteCAE", "-d", "MNIST")
    assert "resized to (32, 32, 1)" in undercomplete.stdout and "(2, 2, 8)" in undercomplete.stdout


@pytest.mark.unit
def test_model_options_name_the_run_and_are_checked(workspace):
    from test_run_files import made_run

    options = '{"filters": [32, 16, 8], "downsample": "stride"}'
    plan, config = planned("-m", "ConvAE", "-d", "Digits", "--epochs", "1", "--model-args", options)
    assert plan.folder == str(run_dir("ConvAE", "_downsample=stride_filters=32-16-8", epochs=1))
    default, _ = planned("-m", "ConvAE", "-d", "Digits", "--epochs", "1", "--model-args", '{"filters": [16, 8, 8]}')
    assert default.folder == str(run_dir("ConvAE", epochs=1))  # defaults add nothing
    made_run("log", epochs=1, errors=(0.05,), model="ConvAE", model_args=config.model_args)
    compared = bench("compare", "--model", "ConvAE").stdout
    assert "downsample=stride filters=32-16-8" in compared
    unknown = bench("train", "-m", "ConvAE", "-d", "Digits", "--model-args", '{"filter": [8]}')
    assert_one_line_error(unknown, "model ConvAE has no option 'filter'", "filters", exit_code=2)
    bad_value = bench("train", "-m", "ConvAE", "-d", "Digits", "--model-args", '{"downsample": "avg"}')
    assert_one_line_error(bad_value, 'option downsample is one of "pool", "stride"; got "avg"', exit_code=2)
    base_options = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--model-args", '{"filters": 8}')
    assert_one_line_error(base_options, "its options are init, loss, pixel_range", exit_code=2)
    assert not Path("log/SingleLayerCAE").exists()


def test_model_args_from_yaml(workspace):
    Path("run.yaml").write_text("model: FullyConnectedAE\ndataset: Digits\nepochs: 1\n"
                                "model_args:\n  hidden_units: [64, 16]\n  loss: mse\n  pixel_range: [-1, 1]\n")
    result = bench("train", "--config", "run.yaml")
    assert result.exit_code == 0, result
    run = run_dir("FullyConnectedAE", "_hidden_units=64-16_loss=mse_pixel_range=-1-1", epochs=1)
    config = yaml.safe_load((run / "config.yaml").read_text())  # the file's options, as the run's own
    assert config["model_args"] == {"hidden_units": [64, 16], "loss": "mse", "pixel_range": [-1, 1]}
    assert read_results(run)["status"] == "finished"


@pytest.mark.extras
def test_denoising_for_any_model(workspace):
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", "--noise-factor", "0.5")
    assert result.exit_code == 0, result
    run = run_dir("SingleLayerCAE", "_noise=0.5", epochs=3)
    assert run.exists()
    import matplotlib.image

    noisy_rows = matplotlib.image.imread(run / "reconstructions.png").shape[0]
    assert bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1").exit_code == 0
    clean_rows = matplotlib.image.imread(run_dir("SingleLayerCAE", epochs=1) / "reconstructions.png").shape[0]
    assert noisy_rows > clean_rows  # the noisy inputs are a row of their own
    clean = bench("eval", run)
    noisy = bench("eval", run, "--noise-factor", "0.5")
    assert clean.exit_code == 0 and noisy.exit_code == 0
    evaluations = read_results(run)["evaluations"]
    assert evaluations["best checkpoint, test, noise 0.5"]["error"] > evaluations["best checkpoint, test"]["error"]
    again = bench("eval", run, "--noise-factor", "0.5")  # the same noise every time
    assert read_results(run)["evaluations"]["best checkpoint, test, noise 0.5"]["error"] == \
        evaluations["best checkpoint, test, noise 0.5"]["error"]
    assert again.exit_code == 0


def test_vae_logs_its_kl_and_reconstruction_terms(zoo_runs):
    run = zoo_runs[1]["VAE"]
    kl, reconstruction = scalar_values(run / "train", "kl_loss"), scalar_values(run / "train", "reconstruction_loss")
    assert kl and reconstruction and kl[-1][1] > 0 and reconstruction[-1][1] > 0


@pytest.mark.parametrize("model", MODELS)
def test_every_model_takes_the_base_loss_option(model):
    assert build(model, loss="cross_entropy").loss_kind == "cross_entropy"


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_stacked_cae_loss_is_its_blocks_losses_handed_through_get(loss):
    """One block: the block's input is the image, so its loss is the `loss` option's on the image."""
    net = build("StackedCAE", blocks=1, dropout=0.0, loss=loss)
    images = tf.random.uniform((2, 8, 8, 1), -1, 1)
    result = net.forward(images, targets=images)
    expected = tf.reduce_mean(net.pixel_losses(result.reconstruction, images))
    assert float(result.terms["reconstruction"]) == pytest.approx(float(expected), rel=1e-6)
    assert set(result.terms) == {"reconstruction"}


ARGUMENTS_FOR_LOSS = '''
    import keras
    import tensorflow as tf
    from bench import Autoencoder

    class Handed(Autoencoder):
        """Hands its code to loss through get's third value, and adds a named term."""
        def __init__(self):
            super().__init__()
            self.encoder = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")
            self.decoder = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")

        def get(self, images, train_phase=False, l2_penalty=0.0):
            code = self.encoder(images)
            self.add_penalty("activity", 1e-3 * tf.reduce_mean(tf.square(code)))
            return code, self.decoder(code), {"code": code}

        def loss(self, predictions, real_values, code):
            return super().loss(predictions, real_values) + 0.0 * tf.reduce_sum(code)
    '''


def test_a_plugin_hands_loss_its_arguments_and_adds_a_named_term(workspace):
    write_plugin(workspace / "models", "Handed", ARGUMENTS_FOR_LOSS)
    result = bench("train", "-m", "Handed", "-d", "Digits", "--epochs", "1")
    assert result.exit_code == 0, result
    run = workspace / run_dir("Handed", epochs=1)
    total, reconstruction, activity = (dict(scalar_values(run / "train", tag))
                                       for tag in ("loss", "reconstruction_loss", "activity_loss"))
    step = max(total)
    assert activity[step] > 0
    assert total[step] == pytest.approx(reconstruction[step] + activity[step], rel=1e-5)


def test_a_plugin_using_the_removed_keep_is_told_what_changed(workspace):
    write_plugin(workspace / "models", "Keeper", '''
        import keras
        from bench import Autoencoder

        class Keeper(Autoencoder):
            """Written for bench 0.1: keeps a tensor for loss."""
            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="same")

            def get(self, images, train_phase=False, l2_penalty=0.0):
                self.keep(code=images)
                return images, self.conv(images)
        ''')
    result = bench("train", "-m", "Keeper", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "model plugin Keeper", "self.keep()/self.kept() were removed",
                          "keyword arguments of loss()", exit_code=1)
    assert not (workspace / "log").exists()
