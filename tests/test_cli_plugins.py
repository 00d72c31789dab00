"""Starting bench, and finding plugins: built-in, workspace, entry points, broken."""

import subprocess
import sys
import textwrap

import pytest

from conftest import BUILTIN_MODELS, PROJECT, bench, run_dir, write_plugin

TINY_MODEL = '''
    import keras
    from bench import Autoencoder

    class {name}(Autoencoder):
        """{doc}"""

        def __init__(self):
            super().__init__()
            self.encoder = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")

        def build(self, input_shape):
            self.decoder = keras.layers.Conv2D(input_shape[-1], 3, padding="same")

        def get(self, images, train_phase=False, l2_penalty=0.0):
            encoding = self.encoder(images)
            return encoding, self.decoder(encoding)
    '''


@pytest.mark.unit
def test_help_list_and_compare_do_not_import_tensorflow(workspace):
    probe = textwrap.dedent("""
        import sys
        from bench.cli import cli
        for args in (["--help"], ["list"], ["compare"]):
            try:
                cli.main(args, prog_name="bench")
            except SystemExit as exit:
                assert exit.code == 0, (args, exit.code)
        print("TF_IMPORTED" if "tensorflow" in sys.modules else "TF_NOT_IMPORTED")
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=workspace,
                         env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "TF_NOT_IMPORTED" in out.stdout
    assert "SingleLayerCAE" in out.stdout


@pytest.mark.unit
def test_three_ways_to_start(workspace):
    for command in ([sys.executable, str(PROJECT / "bench.py"), "--help"],
                    [sys.executable, "-m", "bench", "--help"]):
        out = subprocess.run(command, capture_output=True, text=True, cwd=workspace,
                             env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, out.stderr
        assert "Commands:" in out.stdout and "train" in out.stdout


@pytest.mark.unit
def test_list_shows_builtins_with_origin_and_description(workspace):
    result = bench("list")
    assert result.exit_code == 0
    for name in ("SingleLayerCAE", "MNIST", "FashionMNIST", "Cifar10", "Digits"):
        assert name in result.stdout
    assert "built-in" in result.stdout
    assert "DTB's single-layer convolutional autoencoder" in result.stdout
    models_only = bench("list", "models")
    assert "SingleLayerCAE" in models_only.stdout and "FashionMNIST" not in models_only.stdout
    datasets_only = bench("list", "datasets")
    assert "Digits" in datasets_only.stdout and "SingleLayerCAE" not in datasets_only.stdout
    for columns in (80, 100):  # one line per plugin, however narrow: the description is cut, with an ellipsis
        lines = bench("list", env={"COLUMNS": str(columns)}).stdout.splitlines()
        assert max(map(len, lines)) <= columns, lines
        for name in BUILTIN_MODELS + ["MNIST", "FashionMNIST", "Cifar10", "Digits"]:
            assert [line.split()[1] for line in lines if line.startswith(f"{name} ")] == ["built-in"], lines
        assert any(line.endswith("…") for line in lines)


def test_workspace_plugin_wins_and_broken_file_is_reported(workspace):
    write_plugin(workspace / "models", "SingleLayerCAE", TINY_MODEL.format(name="SingleLayerCAE", doc="My own version."))
    write_plugin(workspace / "models", "Broken", "class Broken(:\n    pass\n")
    write_plugin(workspace / "models", "Raises", "raise RuntimeError('boom at import')\nclass Raises: pass\n")
    result = bench("list", "models")
    assert result.exit_code == 0
    assert "My own version." in result.stdout
    assert "workspace: models/SingleLayerCAE.py" in bench("list", "models", env={"COLUMNS": "100"}).stdout
    assert "Broken" in result.stdout and "SyntaxError" in result.stdout
    # A broken file does not stop the others from training.
    trained = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1")
    assert trained.exit_code == 0, trained
    failed = bench("train", "-m", "Raises", "-d", "Digits", "--epochs", "1")
    from conftest import assert_one_line_error

    assert_one_line_error(failed, "models/Raises.py", "RuntimeError: boom at import")
    assert not (workspace / "log" / "Raises").exists()


def test_entry_point_plugin_is_found_and_trains(workspace, tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_plugin(site, "acme_models", TINY_MODEL.format(name="AcmeCAE", doc="A model from an installed package."))
    info = site / "acme_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[bench.models]\nAcmeCAE = acme_models:AcmeCAE\n")
    monkeypatch.syspath_prepend(str(site))
    listed = bench("list", "models", env={"COLUMNS": "120"})
    assert "AcmeCAE" in listed.stdout and "acme-models" in listed.stdout
    assert "A model from an installed package." in listed.stdout
    trained = bench("train", "-m", "AcmeCAE", "-d", "Digits", "--epochs", "1")
    assert trained.exit_code == 0, trained
    assert (workspace / run_dir("AcmeCAE", epochs=1) / "results.txt").exists()


@pytest.mark.unit
def test_every_training_option_comes_from_the_one_table(workspace, monkeypatch):
    """The CLI's flags and defaults, the config's fields and the resumable keys are the table's."""
    import dataclasses
    import os

    from bench.commands.train import train
    from bench.run.config import TrainConfig
    from bench.errors import BenchUsageError
    from bench.run.options import OPTIONS, RESUMABLE_KEYS, default_data_dir

    for name in [name for name in os.environ if name.startswith("BENCH_")]:
        monkeypatch.delenv(name)
    assert [field.name for field in dataclasses.fields(TrainConfig)] == [option.name for option in OPTIONS]
    flags = {flag for param in train.params for flag in param.opts}
    for option in OPTIONS:
        assert {option.flag, *option.aliases} <= flags, option.name
    parsed = TrainConfig.from_point({"model": "SingleLayerCAE", "dataset": "Digits", "epochs": "3"})  # a sweep's point
    assert parsed == TrainConfig(model="SingleLayerCAE", dataset="Digits", epochs=3, data_dir=default_data_dir())
    spelled = TrainConfig.from_point({"model": "SingleLayerCAE", "dataset": "Digits", "l2-penalty": "0.5"})
    assert spelled.l2_penalty == 0.5  # an option's other spelling, converted as the command line does
    with pytest.raises(BenchUsageError, match=r"unknown option 'epoch' \(did you mean epochs\?\); the options are model, dataset"):
        TrainConfig.from_point({"model": "SingleLayerCAE", "dataset": "Digits", "epoch": 3})
    assert set(TrainConfig.identity_keys()) == {option.name for option in OPTIONS} - set(RESUMABLE_KEYS)


@pytest.mark.unit
def test_a_model_added_to_the_clones_own_folder_is_listed_as_the_users(tmp_path, monkeypatch):
    """Run from a clone, its models/ is where the built-ins come from: a file bench does not ship is
    the user's (workspace), not built-in."""
    from bench import plugins

    clone = tmp_path / "clone"
    (clone / "models").mkdir(parents=True)
    for name in ("ConvAE", "MyAE"):
        (clone / "models" / f"{name}.py").write_text(f"class {name}:\n    pass\n")
    monkeypatch.chdir(clone)
    monkeypatch.setattr(plugins, "builtin_dir", lambda kind: clone / "models")
    found = plugins.discover("model")
    assert (found["ConvAE"].origin, found["MyAE"].origin) == ("built-in", "workspace")
    assert set(plugins.SHIPPED["model"]) == set(BUILTIN_MODELS)
