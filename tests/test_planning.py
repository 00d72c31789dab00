"""Planning runs without TensorFlow (no training): a model's options and the optimizers'
signatures read from their source agree with the imported classes, and a sweep's parent
process plans its runs without importing TensorFlow."""

import subprocess
import sys

import pytest

from bench import plugins
from bench.model import options
from bench.run import optimizers
from conftest import BUILTIN_MODELS, process_env, readme_plugin_examples, write_plugin
from test_run_files import made_run

DERIVED = '''
from bench import plugin_class

Base = plugin_class("model", "SingleLayerCAE")


class Derived(Base):
    """A model built on another plugin, with an option of its own."""

    def __init__(self, depth=(2, 3), **kwargs):
        super().__init__(**kwargs)
'''
NOT_PLAIN = '''
import math

from bench import Autoencoder


class NotPlain(Autoencoder):
    """A default that only running the file can tell."""

    def __init__(self, scale=math.sqrt(2.0), **kwargs):
        super().__init__(**kwargs)
'''


@pytest.fixture
def workspace_models(workspace):
    write_plugin("models", "Derived", DERIVED)
    write_plugin("models", "NotPlain", NOT_PLAIN)
    (workspace / "models" / "TinyCAE.py").write_text(readme_plugin_examples()["models/TinyCAE.py"])
    return workspace


@pytest.mark.parametrize("name", BUILTIN_MODELS + ["Derived", "TinyCAE"])
def test_a_models_options_read_from_its_source_are_its_classes(workspace_models, name):
    spec = plugins.find("model", name)
    read = options.read_options(spec)
    assert read == options.options_of_class(spec.load())
    assert "pixel_range" in read or name == "TinyCAE"  # Autoencoder's own, reached through **kwargs


def test_a_default_the_source_does_not_spell_is_read_from_the_class(workspace_models):
    spec = plugins.find("model", "NotPlain")
    with pytest.raises(options._NotPlain):
        options.read_options(spec)
    assert options.model_options(spec)["scale"] == pytest.approx(2 ** 0.5)
    assert options.resolve_model_args(spec, {"scale": 2 ** 0.5, "loss": "cross_entropy"}) == {"loss": "cross_entropy"}


def test_the_optimizers_read_from_keras_source_are_its_classes():
    read = optimizers._read_keras_source()
    assert "Adam" in read and "MultiOptimizer" not in read  # it takes no learning rate
    assert read == optimizers.signatures(imported=True)


def test_a_sweeps_parent_plans_its_runs_without_tensorflow(tmp_path):
    """Both runs of the grid are finished: the sweep plans them, starts nothing, and shows
    them; `python -X importtime` lists every module its one process imported."""
    for seed in (0, 1):
        made_run(tmp_path / "log", seed=seed)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", "sweep", "--model", "SingleLayerCAE",
                             "--dataset", "Digits", "--epochs", "2", "--seed", "0,1", "--optimizer-args",
                             '{"learning_rate": 0.001}'],
                            cwd=tmp_path, capture_output=True, text=True, env=process_env({}))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("already finished") == 2 and "sweep: 0 run(s) to train" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "bench.run.planning" in imported and "yaml" in imported
    assert not {"tensorflow", "keras"} & imported
