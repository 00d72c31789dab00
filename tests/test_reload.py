"""A saved model reloads to exactly the numbers training reported, in a new process,
and its checkpoints hold every weight, whatever holds the layers."""

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILTIN_MODELS, PROJECT, bench, inside, process_env, read_results, tf

EVAL_TWICE = textwrap.dedent("""
    import json, sys
    from bench.cli import cli

    measured = {}
    for run in sys.argv[1:]:
        calls = []
        for _ in range(2):
            try:
                cli.main(["eval", run, "--split", "validation", "--split", "test"],
                         prog_name="bench")
            except SystemExit as exit:
                assert exit.code == 0, (run, exit.code)
            evaluations = json.load(open(run + "/results.json"))["evaluations"]
            calls.append({split: evaluations["best checkpoint, " + split] for split in ("validation", "test")})
        measured[run] = calls
    print("MEASURED " + json.dumps(measured))
""")


@pytest.fixture
def zoo_copy(zoo_runs, tmp_path):
    """A copy of the shared workspace (runs and workspace plugins), for tests that write to it."""
    shared, runs, env = zoo_runs
    shutil.copytree(shared, tmp_path / "zoo")
    return tmp_path / "zoo", {model: tmp_path / "zoo" / run.relative_to(shared) for model, run in runs.items()}, env


def test_every_model_reloads_to_the_trained_numbers_in_a_new_process(zoo_copy):
    workspace, runs, env = zoo_copy
    folders = [str(runs[model].relative_to(workspace)) for model in runs]
    out = subprocess.run([sys.executable, "-c", EVAL_TWICE, *folders], capture_output=True, text=True,
                         cwd=workspace, env=process_env(env))
    assert out.returncode == 0, out.stderr
    measured = json.loads(out.stdout.split("MEASURED ", 1)[1])
    wrong = []
    for model, folder in zip(runs, folders):
        trained = read_results(runs[model])["best"]
        for call in measured[folder]:
            for split in ("validation", "test"):
                now = {name: call[split][name] for name in ("error", "mse", "psnr")}
                then = {name: trained[split][name] for name in ("error", "mse", "psnr")}
                if now != then:
                    wrong.append((model, split, then, now))
                assert call[split]["epoch"] == trained[split]["epoch"] and call[split]["step"] == trained[split]["step"]
    assert not wrong, wrong


def test_best_checkpoints_hold_every_parameter_that_inspect_counts(zoo_runs):
    from bench.model import checkpoints

    workspace, runs, env = zoo_runs
    with inside(workspace):
        for model, run in runs.items():
            shown = bench("inspect", "-m", model, "-d", "Digits", env=env)
            assert shown.exit_code == 0, shown
            total = int(re.search(r"total parameters: ([\d,]+)", shown.stdout).group(1).replace(",", ""))
            for folder in ("best", "checkpoints"):
                assert checkpoints.parameter_count(checkpoints.latest(run / folder)) == total, (model, folder)
            assert json.loads((run / "model.json").read_text())["parameters"] == total, model


def test_layers_in_lists_dicts_and_nested_layers_are_named_by_where_they_are_held(zoo_runs):
    _, runs, _ = zoo_runs
    names = set(json.loads((runs["Holders"] / "model.json").read_text())["weights"])
    assert {"stack/0/kernel", "stack/1/bias", "named/middle/kernel", "block/first/kernel", "block/second/bias",
            "head/conv2d/kernel", "head/conv2d_1/bias"} <= names, names
    reader = tf.train.load_checkpoint(str(runs["Holders"] / "best"))
    assert "weights/block.Sfirst.Skernel/.ATTRIBUTES/VARIABLE_VALUE" in reader.get_variable_to_shape_map()


@pytest.mark.unit
def test_the_zoo_is_covered():
    assert len(BUILTIN_MODELS) == len(list((PROJECT / "models").glob("*.py")))
