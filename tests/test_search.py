"""`bench search`: a space file checked before anything is created; an Optuna study whose
trials are ordinary runs, pruned early, resumed after Ctrl-C, shared by worker processes
(through the journal file and through a real PostgreSQL), and retried once when a
worker is killed; `--show` read back by a new process."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import assert_one_line_error, bench, bench_process, free_ports, process_env, read_results, started

optuna = pytest.importorskip("optuna")

from bench.commands.flags import option_names  # noqa: E402 (after the skip: bench search needs Optuna)
from bench.commands.train import train  # noqa: E402
from bench.study.space import read_space  # noqa: E402

SPACE = """\
model: SingleLayerCAE
dataset: Digits
epochs: 3
batch_size: 64
extras: none
optimizer_args.learning_rate: {log_uniform: [1.0e-4, 3.0e-2]}
l2_penalty: {choice: [0, 1.0e-4]}
"""


def study_of(workspace, name, storage=None):
    storage = storage or optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(workspace / "log" / "_studies" / name / "journal.log")))
    return optuna.load_study(study_name=name, storage=storage)


def states(study):
    counts = {}
    for trial in study.get_trials():
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def children(pid):
    """The processes whose parent is `pid` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def search_process(workspace, *args, env=None):
    return bench_process("search", "--space", "space.yaml", *args, cwd=workspace, env=env)


def finished(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


# -- the space: one line naming the key, nothing created ------------------------------

BAD_SPACES = {
    "an unknown option": ("learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}", "unknown key 'learning_rate'"),
    "a dot into a plain option": ("epochs.max: 3", "only optimizer_args and model_args take a dotted key"),
    "an empty range": ("l2_penalty: {uniform: [1.0e-3, 1.0e-3]}", "the range [0.001, 0.001] is empty"),
    "a log range through 0": ("optimizer_args.learning_rate: {log_uniform: [0, 1.0e-2]}", "cannot reach 0"),
    "a float range for an integer": ("batch_size: {uniform: [16, 64]}", "batch_size takes integers"),
    "a range for text": ("optimizer: {uniform: [0, 1]}", "optimizer takes str values"),
    "an unknown way to draw": ("l2_penalty: {normal: [0, 1]}", "{normal} is not a way to draw"),
    "a bare list": ("batch_size: [32, 64]", "to draw one of them, write {choice: [32, 64]}"),
    "an impossible end": ("l2_penalty: {uniform: [-1, 0]}", "l2_penalty: -1 would not train"),
    "an unknown model option": ("model_args.width: {int: [2, 8]}", "model_args.width: 2 would not train"),
    "nothing drawn": ("batch_size: 32", "nothing to search"),
    "a choice given twice": ("batch_size: {choice: [32, 32]}", "a choice is given twice"),
    "a value a model option does not allow": ("model_args.loss: {choice: [mse, l1]}",
                                              "model SingleLayerCAE's option loss is one of \"mse\", \"cross_entropy\"; got \"l1\""),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", BAD_SPACES)
def test_a_bad_space_is_one_line_naming_its_key_and_nothing_is_created(workspace, case):
    line, message = BAD_SPACES[case]
    Path("space.yaml").write_text("model: SingleLayerCAE\ndataset: Digits\n" + line + "\n")
    assert_one_line_error(bench("search", "--space", "space.yaml", "--study", "s"), message, exit_code=2)
    assert not Path("log").exists()


@pytest.mark.unit
def test_a_space_puts_dotted_keys_inside_their_json_option_and_a_grid_needs_choices(workspace):
    from bench.commands.flags import option_names
    from bench.commands.train import train
    from bench.errors import BenchUsageError
    from bench.study.space import read_space

    Path("space.yaml").write_text(SPACE + "optimizer_args.epsilon: 1.0e-7\n")
    space = read_space("space.yaml", option_names(train))
    assert [(param.key, param.kind) for param in space.params] == [
        ("optimizer_args.learning_rate", "log_uniform"), ("l2_penalty", "choice")]
    point = space.point({"optimizer_args.learning_rate": 0.01, "l2_penalty": 0})
    assert point["optimizer_args"] == {"epsilon": 1e-7, "learning_rate": 0.01} and point["epochs"] == 3
    assert space.fixed["optimizer_args"] == {"epsilon": 1e-7}  # the space's own settings are left as they were
    Path("space.yaml").write_text(SPACE.replace("[0, 1.0e-4]", "[0, 1e-5]"))  # YAML 1.1 would read "1e-5" as text
    assert read_space("space.yaml", option_names(train)).params[1].values == (0, 1e-5)
    with pytest.raises(BenchUsageError, match="optimizer_args.learning_rate is a range"):
        space.grid()


@pytest.mark.unit
def test_an_unreachable_database_another_space_or_objective_are_one_line(workspace):
    Path("space.yaml").write_text(SPACE)
    port = free_ports(1)[0]
    assert_one_line_error(bench("search", "--space", "space.yaml", "--study", "s", "--storage",
                                f"postgresql://bench:secret@127.0.0.1:{port}/bench"),
                          f"cannot open the search storage postgresql://bench@127.0.0.1:{port}/bench", exit_code=2)
    Path("log/_studies/s").mkdir(parents=True)
    journal = optuna.storages.journal.JournalFileBackend(str(workspace / "log/_studies/s/journal.log"))
    Path("shorter.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 2"))
    optuna.create_study(study_name="s", storage=optuna.storages.JournalStorage(journal)).set_user_attr(
        "bench_space", read_space("shorter.yaml", option_names(train)).to_json())
    assert_one_line_error(bench("search", "--space", "space.yaml", "--study", "s"),
                          "study 's' was created with epochs: 2 (now 3); give the study's settings, or name a new "
                          "study with --study", exit_code=2)
    for name in ("../x", "/abs/path", "", "a/b", ".hidden", ".."):
        assert_one_line_error(bench("search", "--space", "space.yaml", "--study", name), "--study must be one plain "
                              "name", exit_code=2)
    assert not Path("x").exists() and sorted(p.name for p in Path("log/_studies").iterdir()) == ["s"]
    assert_one_line_error(bench("search", "--study", "nobody", "--show"), "no study 'nobody'", exit_code=2)
    Path("log/_studies/p").mkdir()
    psnr_journal = optuna.storages.journal.JournalFileBackend(str(workspace / "log/_studies/p/journal.log"))
    optuna.create_study(study_name="p", storage=optuna.storages.JournalStorage(psnr_journal),
                        direction="maximize").set_user_attr("bench_objective", "validation_psnr")
    assert_one_line_error(bench("search", "--space", "space.yaml", "--study", "p"),
                          "study 'p' was created to maximize validation_psnr; give --objective validation_psnr",
                          exit_code=2)
    Path("log/_studies/s/journal.log").write_bytes(b'{"op_code": 0\nGARBAGE\x00\xff\n')
    assert_one_line_error(bench("search", "--study", "s", "--show"), "the journal is damaged", exit_code=2)
    assert_one_line_error(bench("search", "--space", "space.yaml", "--study", "s"), "the journal is damaged",
                          exit_code=2)


# -- searches that train ---------------------------------------------------------------

def test_a_killed_workers_trial_is_retried_once_by_a_worker_that_waits_for_it(workspace):
    """Two worker processes on one journal file, a one-trial study: the first trains the trial,
    the second finds nothing left to ask but waits for the running trial instead of leaving.
    The first is killed (SIGKILL) in the middle of the trial, and the trial's process ends with
    it (no orphan); when the lease expires the second fails the trial, queues it again, and the
    retry resumes from the checkpoint. Nothing is left running; the run is trained once."""
    Path("space.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 20"))  # long enough to be killed in
    args = ("--study", "s", "--trials", "1", "--pruner", "none", "--lease-seconds", "5", "--confirm", "0")
    doomed = search_process(workspace, *args, "--seed", "0")
    deadline = time.time() + 240
    while not any("epoch 2/" in log.read_text() for log in workspace.glob("log/SingleLayerCAE/*/train.log")):
        assert time.time() < deadline and doomed.poll() is None, doomed.communicate()
        time.sleep(0.05)
    trainers = children(doomed.pid)
    assert trainers
    survivor = search_process(workspace, *args, "--seed", "1")  # two worker processes share the journal
    waiting = survivor.stdout.readline()  # it has found the study's one trial running, and waits for it
    assert "waiting for 1 trial(s) of other workers" in waiting, waiting
    doomed.kill()
    finished(doomed)
    deadline = time.time() + 60
    while any(alive(pid) for pid in trainers):  # the trial's process dies with its worker: no orphan
        assert time.time() < deadline, "a trial's process outlived its killed worker"
        time.sleep(0.1)
    code, stdout, stderr = finished(survivor)
    assert code == 0, stderr
    assert "its worker is gone (lease expired); queued again" in stderr
    study = study_of(workspace, "s")
    assert states(study) == {"FAIL": 1, "COMPLETE": 1}
    (stale,) = [trial for trial in study.trials if trial.state.name == "FAIL"]
    (retry,) = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    assert stale.user_attrs["retried"] and retry.user_attrs["retry_of"] == stale.number
    assert retry.user_attrs["run"] == stale.user_attrs["run"] and retry.params == stale.params
    log = (Path(retry.user_attrs["run"]) / "train.log").read_text()
    assert "resuming at epoch" in log and log.count("epoch 20/20") == 1
    assert read_results(retry.user_attrs["run"])["epochs_done"] == 20


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL cluster on a free loopback port (initdb and pg_ctl, as the
    postgres user when the tests run as root): its URL."""
    bindir = next((Path(p).parent for p in (shutil.which("pg_ctl"),) if p), None) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_ports(1)[0]
    data = folder / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                    "-o", f"-p {port} -h 127.0.0.1 -k {folder}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_study_in_postgresql_and_the_heartbeat_retries_a_killed_workers_trial(
        workspace, postgres):
    """Two workers on one PostgreSQL, optimising the validation SSIM (maximised); one is killed (SIGKILL) in
    a trial's second epoch: Optuna's heartbeat fails its trial, the other worker queues it again
    through Optuna's retry callback and resumes it from the checkpoint. Each run is trained for
    one trial; each epoch's SSIM is what the study saw, and a trial's value is its best model's."""
    Path("space.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 6"))
    args = ("--study", "pg", "--trials", "2", "--storage", postgres, "--pruner", "none", "--lease-seconds", "3", "--max-retries", "3",
            "--objective", "validation_ssim", "--confirm", "0")
    doomed = search_process(workspace, *args, "--seed", "0")
    deadline = time.time() + 240
    while not any("epoch 2/" in log.read_text() for log in workspace.glob("log/SingleLayerCAE/*/train.log")):
        assert time.time() < deadline and doomed.poll() is None, doomed.communicate()
        time.sleep(0.05)
    survivor = search_process(workspace, *args, "--seed", "1", "--workers", "2")
    doomed.kill()
    finished(doomed)
    # the survivor's own trial process is killed mid-training (as the OOM killer would), then its retry
    pid, killed_run = trial_training([survivor], deadline)
    os.kill(pid, signal.SIGKILL)
    retry, _ = trial_training([survivor], deadline, run=killed_run, killed={pid})
    os.kill(retry, signal.SIGKILL)
    code, _, stderr = finished(survivor)
    assert code == 0, stderr
    assert "its worker is gone (heartbeat expired); queued again" in stderr
    assert stderr.count("its training process was killed (SIGKILL); queued again") == 2
    study = optuna.load_study(study_name="pg", storage=postgres)
    assert study.direction.name == "MAXIMIZE" and states(study) == {"COMPLETE": 2, "FAIL": 3}
    straight = bench("train", "--config", killed_run / "config.yaml", "--log-dir", "straight")
    assert straight.exit_code == 0, straight
    untimed = [[{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in read_results(folder)["history"]]
               for folder in (killed_run, Path("straight") / killed_run.relative_to("log"))]
    assert untimed[0] == untimed[1]  # the twice-killed point ends with an uninterrupted run's numbers
    (stale,) = [trial for trial in study.trials
                if trial.state.name == "FAIL" and "was killed" not in trial.user_attrs.get("reason", "")]
    (retry,) = [trial for trial in study.trials if trial.system_attrs.get("failed_trial") == stale.number]
    assert retry.user_attrs["retry_of"] == stale.number and retry.user_attrs["run"] == stale.user_attrs["run"]
    (final,) = [trial for trial in study.trials if trial.state.name == "COMPLETE"
                and trial.user_attrs["run"] == stale.user_attrs["run"]]
    assert "resuming at epoch" in (Path(final.user_attrs["run"]) / "train.log").read_text()
    runs = [trial.user_attrs["run"] for trial in study.trials if trial.state.name == "COMPLETE"]
    assert len(set(runs)) == 2
    for trial in study.trials:
        if trial.state.name == "COMPLETE":
            results = read_results(trial.user_attrs["run"])
            assert trial.value == results["best"]["validation"]["ssim"]  # its best model's (by error)
            assert trial.intermediate_values == {entry["epoch"]: entry["validation_ssim"]
                                                 for entry in results["history"]}
    code, stdout, _ = finished(bench_process("search", "--study", "pg", "--storage", postgres, "--show",
                                             "--format", "csv", cwd=workspace))
    assert code == 0 and stdout.splitlines()[0].startswith("number,state,validation_ssim,validation_ssim_std,n,epochs")
    assert len(stdout.strip().splitlines()) == 6 and "its worker is gone" in stdout


def test_a_grid_trial_with_repeats_is_the_mean_of_its_seeds(workspace):
    """`--sampler grid` proposes the space's one point; `--repeats 2` means seeds 0 and 1: the
    seed-0 run is already finished (read, not trained), seed 1 is trained, and the trial's
    value is their mean, its spread kept beside it."""
    from test_run_files import made_run

    made_run(workspace / "log", seed=0, epochs=1, errors=(0.5,), batch_size=64)
    Path("space.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 1").replace(
        "{log_uniform: [1.0e-4, 3.0e-2]}", "{choice: [0.001]}").replace("[0, 1.0e-4]", "[0]"))
    result = bench("search", "--space", "space.yaml", "--study", "g", "--trials", "1", "--sampler", "grid",
                   "--repeats", "2", "--pruner", "none", "--confirm", "0")
    assert result.exit_code == 0, result
    (trial,) = study_of(workspace, "g").trials
    assert [Path(run).name for run in trial.user_attrs["runs"]] == [
        "Digits_Adam_lr=0.001_bs=64_epochs=1", "Digits_Adam_lr=0.001_bs=64_seed=1_epochs=1"]
    trained = read_results(trial.user_attrs["runs"][1])["best"]["validation"]["error"]
    assert trained < 0.5 and trial.value == pytest.approx((0.5 + trained) / 2)
    assert trial.user_attrs["std"] == pytest.approx(abs(0.5 - trained) / 2 ** 0.5)
    assert trial.user_attrs["epochs"] == 2


def test_two_trials_that_draw_the_same_settings_at_once_share_one_run(workspace):
    """Two trials at once on a space of one point: one trains the run, the other's `bench
    train` is refused by the run lock, waits for it, and reads the finished run (or, when its
    process starts only after the run has ended, reads it at once); both finish with its
    value, and the run is trained once."""
    Path("space.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 2").replace(
        "{log_uniform: [1.0e-4, 3.0e-2]}", "{choice: [0.001]}").replace("[0, 1.0e-4]", "[0]"))
    result = bench("search", "--space", "space.yaml", "--study", "same", "--trials", "2", "--workers", "2",
                   "--sampler", "random", "--pruner", "none", "--confirm", "0")
    assert result.exit_code == 0, result
    study = study_of(workspace, "same")
    outputs = "".join(path.read_text() for path in (workspace / "log/_studies/same").glob("*/trial*.log"))
    assert "another trial trains its run" in result.stdout + result.stderr or \
        "has already trained its 2 epochs" in outputs, outputs
    assert states(study) == {"COMPLETE": 2}
    assert len({trial.user_attrs["run"] for trial in study.trials}) == 1
    assert len({trial.value for trial in study.trials}) == 1
    log = (Path(study.trials[0].user_attrs["run"]) / "train.log").read_text()
    assert log.count("epoch 2/2") == 1 and "resuming at epoch" not in log  # trained once, never in part


def trial_training(workers, deadline, run=None, killed=()):
    """(pid, run folder) of a trial process of `workers` (training `run`, when given) once its run
    has ended an epoch since that process started (`run` is a retry: since it resumed). Processes in `killed` are passed over: a
    SIGKILL takes a moment to land, and until then the killed process still looks like a trial."""
    import re

    from bench.run.config import TrainConfig
    from bench.run.planning import plan_run

    while time.time() < deadline:
        for worker in workers:
            assert worker.poll() is None, finished(worker)
            for pid in children(worker.pid):
                if pid in killed:
                    continue
                try:
                    # a cold trial's arguments, or a warm one's title ("bench train --config FILE")
                    command = re.split(rb"[\0 ]", Path(f"/proc/{pid}/cmdline").read_bytes())
                    point = yaml.safe_load(Path(command[command.index(b"--config") + 1].decode()).read_text())
                except (OSError, ValueError):  # ended meanwhile, or not a trial
                    continue
                trained = Path(plan_run(TrainConfig.from_point(point)).folder)
                log = trained / "train.log"
                if (run is None or trained == run) and log.is_file():
                    *_, how, since = ["", "", *re.split(r"(starting|resuming) ", log.read_text())]
                    # a retry resumes: until its own line, the log still ends with the killed one's epoch
                    if (run is None or how == "resuming") and "train error" in since:
                        return pid, trained
        time.sleep(0.05)
    raise AssertionError("no trial ended an epoch in time")


def test_a_grid_on_two_workers_survives_killed_trials_a_killed_retry_and_sigterm(workspace):
    """Two worker processes on one 4-point grid. One's trial process is killed with SIGKILL (as
    the OOM killer would) after an epoch, and then its retry too; a worker then training gets SIGTERM
    mid-trial and is started again. Every point is completed exactly once, each run
    trained to its end once, none left running, and the twice-killed point's numbers equal an
    uninterrupted run's."""
    Path("space.yaml").write_text(SPACE.replace("epochs: 3", "epochs: 6").replace(
        "{log_uniform: [1.0e-4, 3.0e-2]}", "{choice: [0.001, 0.003]}"))
    args = ("--study", "grid", "--trials", "4", "--sampler", "grid", "--pruner", "none", "--lease-seconds", "5",
            "--confirm", "0")
    first, second = search_process(workspace, *args), search_process(workspace, *args)
    deadline = time.time() + 300
    pid, killed_run = trial_training([first], deadline)
    warm = b"bench train --config"  # a warm training's title; a cold one's command line starts with python
    assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(warm)
    os.kill(pid, signal.SIGKILL)
    retry, _ = trial_training([first, second], deadline, run=killed_run, killed={pid})  # on either worker
    assert Path(f"/proc/{retry}/cmdline").read_bytes().startswith(warm)
    os.kill(retry, signal.SIGKILL)
    # a worker that trains now (the other may have run out of points) is stopped mid-trial
    training, _ = trial_training([first, second], deadline, killed={pid, retry})
    stopped, going = (first, second) if training in children(first.pid) else (second, first)
    stopped.send_signal(signal.SIGTERM)  # (Ctrl-C, SIGINT: the README's search in tests/test_readme.py)
    code, _, stderr = finished(stopped)
    assert code == 143 and "SIGTERM received: stopped the search" in stderr, stderr
    again = search_process(workspace, *args)
    for worker in (going, again):
        code, stdout, stderr = finished(worker)
        assert code == 0, stderr
    study = study_of(workspace, "grid")
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    points = [json.dumps(trial.params, sort_keys=True) for trial in complete]
    assert len(points) == 4 and len(set(points)) == 4, points  # every point once
    assert states(study).get("RUNNING") is None and states(study).get("WAITING") is None
    killed = [trial for trial in study.trials if "was killed (SIGKILL)" in trial.user_attrs.get("reason", "")]
    assert len(killed) == 2 and all(trial.state.name == "FAIL" for trial in killed)
    (final,) = [trial for trial in complete if trial.user_attrs["run"] == str(killed_run)]
    by_number, chain, earlier = {trial.number: trial for trial in study.trials}, [], final
    while "retry_of" in earlier.user_attrs:  # back through its retries (the SIGTERM may have stopped one too)
        earlier = by_number[earlier.user_attrs["retry_of"]]
        chain.append(earlier.number)
    assert final.user_attrs["attempt"] == 2 and {trial.number for trial in killed} <= set(chain), chain
    for trial in complete:
        results = read_results(trial.user_attrs["run"])
        assert results["status"] == "finished" and results["epochs_done"] == 6
        assert (Path(trial.user_attrs["run"]) / "train.log").read_text().count("epoch 6/6") == 1
    shown = json.loads(bench("search", "--study", "grid", "--show", "--format", "json").stdout)
    assert not any(trial["check"] for trial in shown["trials"])
    (row,) = [row for row in shown["trials"] if row["number"] == final.number]
    assert row["attempt"] == 2 and row["retry_of"] == final.user_attrs["retry_of"]  # the chain of retries
    straight = bench("train", "--config", killed_run / "config.yaml", "--log-dir", "straight")
    assert straight.exit_code == 0, straight
    untimed = [[{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in read_results(folder)["history"]]
               for folder in (killed_run, Path("straight") / killed_run.relative_to("log"))]
    assert untimed[0] == untimed[1]


@pytest.mark.unit
def test_grid_workers_of_other_seeds_take_each_point_once(workspace):
    """Two workers of one grid study, --seed 0 and --seed 1, asking in turn (each trial's
    sampler made as the search makes it) take the four points once each: one grid id means
    one point whatever the worker's seed. (The shuffle took the worker's --seed: a worker then
    drew points the other had taken, each a trial failed as taken, up to 8 a round in
    benchmarks/search.py's chaos rounds.)"""
    from bench.study.study import draw, make_sampler

    Path("space.yaml").write_text("model: SingleLayerCAE\ndataset: Digits\nepochs: 1\n"
                                  "batch_size: {choice: [32, 64]}\nl2_penalty: {choice: [0, 1.0e-4]}\n")
    space = read_space("space.yaml", option_names(train))
    study = optuna.create_study()
    drawn = []
    for number in range(4):
        study.sampler = make_sampler("grid", space, seed=number % 2, trials=4, number=number)
        trial = study.ask()
        drawn.append(tuple(draw(trial, param) for param in space.params))
        study.tell(trial, 0.1)
    assert len(set(drawn)) == 4, drawn


def flock_waiters(pid):
    """How many flock locks process `pid` waits for (Linux's /proc/locks marks a waiter "->")."""
    waiting = [line.split() for line in Path("/proc/locks").read_text().splitlines() if " -> FLOCK " in line]
    return sum(1 for fields in waiting if fields[5] == str(pid))  # "1: -> FLOCK ADVISORY WRITE PID ..."


@pytest.mark.unit
def test_a_journal_writer_killed_holding_its_lock_keeps_no_one_waiting(workspace):
    """A process that holds the journal's lock excludes a search's writes (shown by two real
    processes) and, SIGKILLed while it holds it (as the OOM killer would kill a trial in the
    middle of an append), releases it as it dies: the search goes on at once. (Optuna's own
    lock, a symbolic link, stayed behind, and the other writers spun on it for ever.) The
    trials' runs are finished already, so the search reads them and trains nothing."""
    from bench.study.pruning import open_storage
    from test_run_files import made_run

    for l2 in (0.0, 0.001):
        made_run(workspace / "log", epochs=1, errors=(0.1 + l2,), l2_penalty=l2)
    Path("space.yaml").write_text("model: SingleLayerCAE\ndataset: Digits\nepochs: 1\n"
                                  "l2_penalty: {choice: [0.0, 0.001]}\n")
    journal = Path("log", "_studies", "s", "journal.log")  # relative, as bench names it
    journal.parent.mkdir(parents=True)
    hold = ("import sys, time; from bench.study.pruning import JournalLock\n"
            "lock = JournalLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(600)")
    holder = started(subprocess.Popen([sys.executable, "-c", hold, str(journal)], cwd=workspace, env=process_env({}),
                                      stdout=subprocess.PIPE, text=True))
    assert holder.stdout.readline() == "held\n"
    search = search_process(workspace, "--study", "s", "--sampler", "grid", "--trials", "2", "--confirm", "0")
    deadline = time.time() + 60
    while not flock_waiters(search.pid):  # the search waits for the lock, asleep
        if search.poll() is not None or time.time() > deadline:
            search.kill()
            raise AssertionError(f"the search did not wait for the lock: {finished(search)}")
        time.sleep(0.05)
    assert journal.stat().st_size == 0  # nothing written meanwhile
    holder.kill()
    holder.wait()
    code, stdout, stderr = finished(search)
    assert code == 0, stderr
    assert [trial.state.name for trial in study_of(workspace, "s").trials] == ["COMPLETE", "COMPLETE"]
    copy = pickle.loads(pickle.dumps(open_storage(str(journal))))  # a storage pickles, as Optuna's do
    assert copy.get_all_studies()[0].study_name == "s"


@pytest.mark.unit
def test_a_study_extended_with_more_trials_draws_as_one_run_straight(workspace):
    """--trials 3, then the same command with --trials 6, proposes what --trials 6 at once does
    (each trial draws from --seed and its number). Every point's run is already finished, so
    the trials are read, not trained."""
    from test_run_files import made_run

    sizes, penalties = (16, 32, 64, 128), (0.0, 0.001)
    for log in ("log", "other"):
        for batch_size in sizes:
            for l2 in penalties:
                made_run(workspace / log, epochs=1, errors=(0.1 + batch_size / 1000 + l2,), batch_size=batch_size,
                         l2_penalty=l2)
    Path("space.yaml").write_text("model: SingleLayerCAE\ndataset: Digits\nepochs: 1\n"
                                  f"batch_size: {{choice: {list(sizes)}}}\nl2_penalty: {{choice: {list(penalties)}}}\n")
    common = ("search", "--space", "space.yaml", "--study", "s", "--sampler", "random", "--seed", "7", "--confirm", "0")
    for trials, log in (("3", "log"), ("6", "log"), ("6", "other")):
        result = bench(*common, "--trials", trials, "--log-dir", log)
        assert result.exit_code == 0, result
    extended, straight = (optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(workspace / log / "_studies" / "s" / "journal.log")))).trials
        for log in ("log", "other"))
    assert [trial.params for trial in extended] == [trial.params for trial in straight]
    assert len({json.dumps(trial.params, sort_keys=True) for trial in extended}) > 1
    # --show checks each trial's figure against its run folder: a removed run is flagged, never shown as if it held
    shown = json.loads(bench("search", "--study", "s", "--show", "--format", "json").stdout)
    assert not any(trial["check"] for trial in shown["trials"])
    assert shown["trials"][0]["value"] == read_results(shown["trials"][0]["run"])["best"]["validation"]["error"]
    gone = extended[0].user_attrs["run"]
    shutil.rmtree(gone)
    table = bench("search", "--study", "s", "--show")
    assert table.exit_code == 0 and f"{gone} was removed" in table.stderr and "(run changed!)" in table.stdout


def test_a_users_inspect_py_does_not_break_a_trial_and_a_broken_environment_stops_the_worker(workspace):
    """A file named inspect.py in the folder the search runs from no longer breaks every trial
    (a trial's process runs with `python -P`, and still finds the folder's models/). A
    PYTHONPATH that does shadow a library breaks every trial before its first step: after 3 in
    a row, with the reason named, the worker stops, the trials are queued again (none counts
    toward --trials), and each trial's whole output is kept in the study's folder."""
    from conftest import PROJECT

    Path("inspect.py").write_text("raise RuntimeError('the inspect.py beside the space was imported')\n")
    Path("models").mkdir()
    Path("models/Mine.py").write_text((PROJECT / "models" / "SingleLayerCAE.py").read_text().replace(
        "class SingleLayerCAE", "class Mine"))
    Path("space.yaml").write_text(SPACE.replace("SingleLayerCAE", "Mine").replace("epochs: 3", "epochs: 1"))
    fine = bench("search", "--space", "space.yaml", "--study", "fine", "--trials", "1", "--pruner", "none",
                 "--confirm", "0")
    assert fine.exit_code == 0, fine
    assert states(study_of(workspace, "fine")) == {"COMPLETE": 1}

    # a trial that fails by itself (its plugin raises) is not retried, and says why
    Path("models/Raising.py").write_text((PROJECT / "models" / "SingleLayerCAE.py").read_text().replace(
        "class SingleLayerCAE", "class Raising").replace(
        "def get(self, images, train_phase=False, l2_penalty=0.0):",
        "def get(self, images, train_phase=False, l2_penalty=0.0):\n        raise ValueError('the plugin is broken')"))
    Path("raising.yaml").write_text(Path("space.yaml").read_text().replace("model: Mine", "model: Raising"))
    raising = bench("search", "--space", "raising.yaml", "--study", "raising", "--trials", "1", "--pruner", "none",
                    "--confirm", "0")
    assert raising.exit_code == 0 and "FAILED trial 0" in raising.stderr, raising
    (failed,) = study_of(workspace, "raising").trials
    assert failed.state.name == "FAIL" and "the plugin is broken" in failed.user_attrs["reason"]
    assert "retried" not in failed.user_attrs  # not queued again

    Path("shadow").mkdir()
    Path("shadow/inspect.py").write_text("raise RuntimeError('a shadowed library')\n")
    broken = bench("search", "--space", "space.yaml", "--study", "broken", "--trials", "5", "--pruner", "none", "--seed", "1",
                   "--confirm", "0",
                   env={"PYTHONPATH": os.pathsep.join([str(workspace / "shadow"), str(PROJECT)])})
    assert_one_line_error(broken, "3 trials in a row failed before their first step",
                          "RuntimeError: a shadowed library", "queued again", exit_code=1)
    study = study_of(workspace, "broken")
    assert states(study) == {"FAIL": 3, "WAITING": 3}
    from bench.study.study import counted

    assert counted(study) == 0  # none counts toward --trials
    failed = [trial for trial in study.trials if trial.state.name == "FAIL"]
    assert all("RuntimeError: a shadowed library" in trial.user_attrs["reason"] for trial in failed)
    outputs = sorted((workspace / "log/_studies/broken/outputs").glob("*.log"))
    assert len(outputs) == 3 and all("Traceback" in path.read_text() for path in outputs)
    shown = bench("search", "--study", "broken", "--show", "--format", "csv")
    assert shown.stdout.count("RuntimeError: a shadowed library") == 3
