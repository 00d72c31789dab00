"""Planning runs without TensorFlow (no training): a model's options and the optimizers'
signatures read from their source agree with the imported classes (which these tests
import), and a sweep's parent process plans its runs without importing TensorFlow."""

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


@pytest.mark.unit
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


def sweep_options():
    """(names, flags) of `bench train`, as `bench sweep` reads its axes with them."""
    from bench.commands.flags import option_names
    from bench.commands.train import train

    return option_names(train), {option.name for option in train.params if getattr(option, "is_flag", False)}


@pytest.mark.unit
def test_a_sweep_grid_is_read_from_the_command_line_and_a_file(tmp_path):
    from bench.errors import BenchUsageError
    from bench.study.sweep import expand, grid_from_file, grid_from_tokens, with_repeats

    names, flags = sweep_options()
    grid = grid_from_tokens(["--model", "SingleLayerCAE", "--dataset=Digits,MNIST", "--l2-penalty", "0, 1e-9",
                             "--model-args", '{"filters": [8, 4]}', "--jit"], names, flags)
    assert grid == {"model": ["SingleLayerCAE"], "dataset": ["Digits", "MNIST"], "l2_penalty": ["0", "1e-9"],
                    "model_args": ['{"filters": [8, 4]}'], "jit": [True]}  # JSON is one value, never split
    points = expand(grid)
    assert len(points) == 4 and points[1] == dict(points[0], l2_penalty="1e-9") and points[2]["dataset"] == "MNIST"
    assert with_repeats({"seed": ["3"]}, 2) == {"seed": [3, 4]}
    (tmp_path / "grid.yaml").write_text("model: SingleLayerCAE\nbatch-size: [16, 32]\n")
    assert grid_from_file(tmp_path / "grid.yaml", names) == {"model": ["SingleLayerCAE"], "batch_size": [16, 32]}
    for bad, message in ((lambda: grid_from_tokens(["--datset", "Digits"], names, flags), "no option '--datset'"),
                         (lambda: grid_from_tokens(["Digits"], names, flags), "unexpected 'Digits'"),
                         (lambda: expand({"model": ["ConvAE"]}), "a sweep needs --dataset"),
                         (lambda: with_repeats({"seed": [0, 1]}, 3), "give one seed")):
        with pytest.raises(BenchUsageError, match=message):
            bad()


@pytest.mark.unit
def test_each_point_of_a_sweep_is_planned_from_its_run_folder(workspace):
    """Finished with the epochs asked: skipped; another length: a folder of its own (a longer one
    made from the shorter's state); another seed or --restart: trained; an impossible value:
    refused before any process starts."""
    from bench.run.config import TrainConfig
    from bench.errors import BenchUsageError
    from bench.run.planning import Plan, plan_run

    run = made_run(workspace / "log", seed=0, epochs=2)
    (run.path / "checkpoints").mkdir()  # the planner looks for a state to continue from, not into it
    (run.path / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-20"\n')
    point = {"model": "SingleLayerCAE", "dataset": "Digits", "optimizer_args": '{"learning_rate": 0.001}',
             "log_dir": str(workspace / "log")}
    finished = plan_run(TrainConfig.from_point(dict(point, epochs=2)))
    assert finished.finished and finished.folder.endswith("SingleLayerCAE/Digits_Adam_lr=0.001_epochs=2")
    assert finished.continues is None
    shorter = plan_run(TrainConfig.from_point(dict(point, epochs=1)))
    assert shorter.folder.endswith("_epochs=1") and not shorter.finished and shorter.continues is None
    longer = plan_run(TrainConfig.from_point(dict(point, epochs=3)))
    assert longer.folder.endswith("_epochs=3") and not longer.finished and longer.continues == finished.folder
    dtb = plan_run(TrainConfig.from_point(point))
    assert dtb.folder.endswith("SingleLayerCAE/Digits_Adam_lr=0.001") and dtb.continues == finished.folder
    assert not plan_run(TrainConfig.from_point(dict(point, epochs=2, seed=1))).finished
    assert plan_run(TrainConfig.from_point(dict(point, epochs=2)), restart=True) == Plan(finished.folder, False)
    with pytest.raises(BenchUsageError, match="--l2-penalty must be zero or positive"):
        plan_run(TrainConfig.from_point(dict(point, l2_penalty=-1)))
    with pytest.raises(BenchUsageError, match="epochs"):
        TrainConfig.from_point(dict(point, epochs="two"))


@pytest.mark.unit
def test_one_run_has_one_folder_however_its_lists_are_spelt():
    from bench.run.config import TrainConfig
    from bench.run.planning import plan_run

    def folder(augment, classes):
        return plan_run(TrainConfig.from_point({"model": "SingleLayerCAE", "dataset": "Digits", "augment": augment,
                                   "classes": classes})).folder

    assert folder("flip,,crop", "1,0,0") == folder("crop, flip", "0,1") == \
        "log/SingleLayerCAE/Digits_Adam_lr=0.001_aug=flip,crop_classes=0,1"
