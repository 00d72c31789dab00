"""The README's examples work as shown: its plugin files and its offline commands."""

import fcntl
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import (DOC_FILES, PROJECT, README, README_RUN_ELSEWHERE, bench, heredoc_files, inside, process_env,
                      read_results, readme_command, readme_plugin_examples, run_dir, shared_folder)



def shown_commands():
    """The `bench ...` lines of the README's indented command blocks, in order."""
    return [line.strip() for line in README.splitlines()
            if line.startswith("    bench ") and "<" not in line]


def offline(command):
    """Whether a command runs without the network (inspect reads only a dataset's shape)."""
    if any(mine in command for mine in ("~/", "/shared/", "tfds:")):
        return False  # the README's examples of your own data
    if command.startswith("bench inspect"):
        return True
    # --strategy runs need a process of their own: test_distribute.py runs them as shown
    return not any(name in command for name in ("MNIST", "Cifar10", "--config", "--strategy"))


def run_elsewhere(command):
    """Whether another test file runs the command as shown (conftest.README_RUN_ELSEWHERE)."""
    return any(fragment in command for fragment in README_RUN_ELSEWHERE)


def commands_by_section():
    """{section heading: its offline `bench ...` lines, in order}, over the guide's pages (the
    README's own commands run top to bottom in one test); a line shown in two places runs in
    the later one (the guide's section, with its context)."""
    shown, heading = [], None
    guide = "\n".join(path.read_text() for path in DOC_FILES if path.name != "README.md")
    for line in guide.splitlines():
        if line.startswith("## "):
            heading = line[3:]
        elif line.startswith("    bench ") and "<" not in line and offline(line.strip()) and not run_elsewhere(line):
            shown.append((heading, line.strip()))
    last = {command: index for index, (_, command) in enumerate(shown)}
    sections = {}
    for index, (heading, command) in enumerate(shown):
        if last[command] == index:
            sections.setdefault(heading, []).append(command)
    return sections


README_MD = (PROJECT / "README.md").read_text()
SECTIONS = commands_by_section()
# What a section's commands leave behind, besides their exit code 0.
LEFT_BEHIND = {
    "Seeing inside and comparing runs": ["compare.png", run_dir("ConvAE") / "results.txt"],
    "Models": [run_dir("SingleLayerCAE", "_noise=0.5", epochs=5) / "results.txt"],
    "Writing a dataset": [run_dir("TinyCAE", dataset="Stripes", epochs=5) / "results.txt"],
    "Your own images": ["shards/digits/manifest.json", "digits.png"],
    "Using what you trained": ["exported/savedmodel/saved_model.pb", "encoder-tflite/model.tflite", "codes.npz",
                               run_dir("SingleLayerCAE", epochs=5) / "interpolations.png",
                               run_dir("VAE", "_beta=0.1", epochs=30) / "samples.png"],
}
FIRST_RUN = "bench train --model SingleLayerCAE --dataset Digits --epochs 5"


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, worker_id):
    """The README's first run, trained once per session whatever the number of workers: the
    run folder the guide's sections start from."""
    folder = shared_folder(tmp_path_factory, worker_id, "first_run")
    folder.mkdir(parents=True, exist_ok=True)
    env = {key: None for key in os.environ if key.startswith("BENCH_") or key == "TF_CONFIG"}
    env["BENCH_DATA_DIR"] = str(folder / "cache")
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            with inside(folder):
                assert bench(*shlex.split(FIRST_RUN)[1:], env=env).exit_code == 0
            (folder / "done").write_text("")
    return folder / run_dir("SingleLayerCAE", epochs=5)


def readme_md_commands():
    """README.md's `bench ...` lines that work offline, in the order a reader meets them."""
    return [line.strip() for line in README_MD.splitlines()
            if line.startswith("    bench ") and "<" not in line and offline(line.strip())]


def test_the_readme_top_to_bottom_in_one_folder(workspace):
    """Every offline command of README.md, in order, in one folder, as a newcomer types them:
    a first run of 5 epochs, then repeats and a sweep of 2 epochs (runs of their own, never
    refused for their length), a search, using the first run, a model of one's own."""
    for path, source in readme_plugin_examples().items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    for name, text in heredoc_files().items():
        Path(name).write_text(text)
    commands = readme_md_commands()
    assert commands[0] == FIRST_RUN and any("bench search --space" in command for command in commands)
    said = {}
    for command in commands:
        if command.startswith("bench search --space"):
            stopped_by_ctrl_c(workspace, command)  # then the same command again, as the README says
        result = bench(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result)
        said[command.split()[1]] = result.stdout
    for reader in ("eval", "export", "encode"):  # each says which epoch's checkpoint it used
        assert "best checkpoint (epoch " in said[reader], (reader, said[reader])
    groups = json.loads(bench("compare", "--group", "--model", "SingleLayerCAE", "--format", "json").stdout)["groups"]
    lengths = [(group["epochs"], group["n"]) for group in groups]
    assert (2, 2) in lengths and (5, 1) in lengths, lengths  # the repeats; the first run
    for group in groups:  # lengths never share a group
        assert len({re.search(r"_epochs=\d+", path).group() for path in group["paths"]}) == 1, group
    first = read_results(run_dir("SingleLayerCAE", epochs=5))
    assert first["status"] == "finished" and first["epochs_done"] == 5
    for seed in ("", "_seed=1"):
        assert read_results(run_dir("SingleLayerCAE", seed))["epochs_done"] == 2
    assert read_results(run_dir("SingleLayerCAE", "_l2=0.001"))["epochs_done"] == 2
    assert Path("codes.npz").is_file() and Path("exported/savedmodel/saved_model.pb").is_file()
    assert read_results(run_dir("TinyCAE", epochs=5))["status"] == "finished"
    the_search_resumed_and_its_best_run_evaluates_to_its_number(workspace)
    again = bench(*shlex.split(next(c for c in commands if c.startswith("bench sweep")))[1:])
    assert again.exit_code == 0 and "sweep: 0 run(s) to train" in again.stdout  # nothing trained twice
    assert again.stdout.count("already finished") == 2 and "the 2 run(s) of the sweep" in again.stdout
    assert read_results(run_dir("SingleLayerCAE", epochs=5)) == first  # the first run, as it was


def stopped_by_ctrl_c(workspace, command):
    """The README's search, in a process of its own, stopped by Ctrl-C in its first trials (the
    signal reaches its trials' processes too, as at a terminal): they stop at a checkpoint and
    are queued again."""
    import signal
    import time

    from conftest import bench_process

    first = bench_process(*shlex.split(command)[1:], cwd=workspace, start_new_session=True)
    deadline = time.time() + 240
    while not any("epoch 1/" in log.read_text() for log in workspace.glob("log/SingleLayerCAE/*_epochs=3/train.log")):
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the worker and its trials' processes
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 130, stderr
    assert "SIGINT received: stopped the search" in stderr and "Traceback" not in stderr
    statuses = [read_results(path.parent)["status"] for path in workspace.glob("log/SingleLayerCAE/*_epochs=3/results.json")]
    assert "interrupted" in statuses and set(statuses) <= {"interrupted", "finished", "pruned"}, statuses


def the_search_resumed_and_its_best_run_evaluates_to_its_number(workspace):
    """After the README's search: its 8 trials ended, the stopped ones resumed, a pruned trial's
    run stopped early, each run trained for one trial, `bench eval` of the best trial's run gives
    its value exactly, and `--show` (a new process) lists every trial, each checked against its run."""
    import subprocess
    import sys

    optuna = pytest.importorskip("optuna")
    backend = optuna.storages.journal.JournalFileBackend(str(workspace / "log/_studies/digits-lr/journal.log"))
    study = optuna.load_study(study_name="digits-lr", storage=optuna.storages.JournalStorage(backend))
    counts = {}
    for trial in study.trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    retried = sum(1 for trial in study.trials if trial.user_attrs.get("retried"))
    assert not any("was killed" in trial.user_attrs.get("reason", "") for trial in study.trials)  # a stop, not a death
    assert all(trial.user_attrs.get("attempt", 0) == 0 for trial in study.trials)
    assert counts.get("RUNNING") is None and counts.get("WAITING") is None
    assert counts["COMPLETE"] + counts.get("PRUNED", 0) == 8 and counts.get("FAIL", 0) == retried >= 1, counts
    assert any("resuming" in log.read_text() for log in workspace.glob("log/SingleLayerCAE/*_epochs=3/train.log"))
    for trial in study.trials:
        if trial.state.name == "PRUNED":
            results = read_results(trial.user_attrs["run"])
            assert results["status"] == "pruned" and results["epochs_done"] < 3
    runs = [trial.user_attrs["run"] for trial in study.trials if trial.state.name in ("COMPLETE", "PRUNED")]
    assert len(runs) == len(set(runs))  # each run trained for one trial
    best = study.best_trial
    evaluated = bench("eval", best.user_attrs["run"], "--split", "validation")
    assert evaluated.exit_code == 0, evaluated
    (measured,) = read_results(best.user_attrs["run"])["evaluations"].values()
    assert measured["error"] == best.value  # exactly: the same checkpoint, images and batches
    shown = subprocess.run([sys.executable, "-m", "bench", "search", "--study", "digits-lr", "--show", "--format",
                            "json"], cwd=workspace, capture_output=True, text=True, env=process_env({}))
    trials = json.loads(shown.stdout)["trials"]
    assert len(trials) == len(study.trials) and trials[0]["number"] == best.number
    assert not any(trial["check"] for trial in trials)  # every figure is its run folder's
    for row in trials:  # a pruned trial is ranked by its run's best, as a finished one is
        if row["state"] in ("COMPLETE", "PRUNED"):
            assert row["value"] == read_results(row["run"])["best"]["validation"]["error"], row
    assert (workspace / "log/_studies/digits-lr/history.png").is_file()  # drawn by the README's --show
    # the winner is confirmed over 3 fresh seeds, and its figure is its runs' (read by a new process)
    confirmation = json.loads(shown.stdout)["confirmation"]
    assert confirmation["seeds"] == [1000, 1001, 1002] and len(confirmation["candidates"]) == 2
    winner = next(c for c in confirmation["candidates"] if c["trial"] == confirmation["winner"])
    assert winner["n"] == 3 and winner["mean"] == pytest.approx(
        sum(read_results(run)["best"]["validation"]["error"] for run in winner["runs"]) / 3)
    assert confirmation["p_value"] is not None and 0 <= confirmation["probability_better"] <= 1
    # a pruned trial's run continued by hand (as the pruned line suggests) is flagged, never shown as if it held
    pruned = next((trial for trial in study.trials if trial.state.name == "PRUNED"), None)
    if pruned is None:  # the median pruner found none worse than the median at epoch 2
        return
    assert bench("train", "--config", Path(pruned.user_attrs["run"]) / "config.yaml").exit_code == 0
    shown = json.loads(bench("search", "--study", "digits-lr", "--show", "--format", "json").stdout)["trials"]
    (row,) = [row for row in shown if row["number"] == pruned.number]
    assert "changed since: epochs_done 3" in row["check"] and "status 'finished' (told 'pruned')" in row["check"]


def test_the_commands_run_elsewhere_are_run_there_as_shown():
    for fragment, test_file in README_RUN_ELSEWHERE.items():
        readme_command(fragment)  # one README line has it
        source = (PROJECT / "tests" / test_file).read_text()
        assert f'readme_command("{fragment}")' in source, (fragment, test_file)


def test_the_readme_shows_what_its_tests_rely_on():
    assert set(readme_plugin_examples()) == {"models/TinyCAE.py", "inputs/Stripes.py"}
    commands = [command for section in SECTIONS.values() for command in section]
    assert readme_md_commands()[0] == FIRST_RUN
    assert "bench train --model TinyCAE --dataset Stripes --epochs 5" in commands
    assert any(command.startswith("bench inspect") for command in commands)
    assert any("--noise-factor" in command and command.startswith("bench eval") for command in commands)
    assert "bench sweep --grid grid.yaml --jobs 2" in commands and "bench compare --plot compare.png" in commands
    assert set(LEFT_BEHIND) <= set(SECTIONS)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_readme_commands_work_as_shown(workspace, first_run, section):
    """Each of the guide's sections' commands in order, in a workspace with the README's plugin
    and YAML files and the README's first run already trained."""
    for path, source in readme_plugin_examples().items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    for name, text in heredoc_files().items():
        Path(name).write_text(text)
    shutil.copytree(first_run, run_dir("SingleLayerCAE", epochs=5))
    for command in SECTIONS[section]:
        result = bench(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result)
    for path in LEFT_BEHIND.get(section, []):
        assert Path(path).exists(), path
        if Path(path).name in ("interpolations.png", "samples.png"):  # readable at a glance
            import matplotlib.image

            assert min(matplotlib.image.imread(path).shape[:2]) >= 256, path


def test_readme_plugin_examples_are_listed(workspace):
    for path, source in readme_plugin_examples().items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    listed = bench("list").stdout
    assert "Two 3x3 convolutions in" in listed and "Random horizontal and vertical stripes" in listed


def test_readme_yaml_example(workspace):
    Path("run.yaml").write_text(heredoc_files()["run.yaml"])
    result = bench("train", "--config", "run.yaml", "--epochs", "3")
    assert result.exit_code == 0, result
    assert "epoch 3/3" in result.stdout
    assert Path("log/SingleLayerCAE/Digits_Adam_lr=0.01_epochs=3/results.txt").exists()


def test_readme_pictures_exist():
    pictures = [(path.parent / picture) for path in DOC_FILES
                for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text())]
    assert len(pictures) >= 4
    for picture in pictures:
        assert picture.is_file(), picture


def test_the_reference_is_generated_from_the_code():
    """docs/reference.md is what docs/reference.py makes of the commands and the option table now."""
    import runpy

    generator = runpy.run_path(str(PROJECT / "docs" / "reference.py"))
    assert (PROJECT / "docs" / "reference.md").read_text() == generator["reference"](), \
        "docs/reference.md is out of date: python docs/reference.py"


def test_the_screenshot_script_says_what_it_needs():
    """docs/screenshots.py retakes the pictures in Chromium; without it, one line on how to get it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(PROJECT / "docs" / "screenshots.py"), "--chromium", ""],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip() == "Chromium is needed: apt install chromium (or --chromium PATH)"


def test_the_readme_leads_in_one_screen_and_links_every_page():
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in (PROJECT / "docs").glob("*.md"):
        assert page.name == "index.md" or f"(docs/{page.name})" in readme, page.name


def test_the_guide_builds_as_a_site(tmp_path):
    """`mkdocs build --strict`: every page in the navigation, every link and picture found."""
    pytest.importorskip("mkdocs")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
