"""A run folder's files as data (no training, no TensorFlow): the one schema of results.json
and config.yaml and its one-line verdicts, results.json's lock across processes, and what
bench compare makes of runs of other lengths, damaged runs and runs no process trains."""

import fcntl
import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

from bench import schema
from bench.study import rows as compare_rows
from bench.run import results as results_file
from bench.run import runs
from bench.run.config import TrainConfig, check_values, write_yaml
from bench.errors import BenchError, DamagedFileError
from bench.run.runs import RunFolder
from conftest import bench, process_env, started

SPLITS_SHOWN = ("validation", "test")


def made_run(log_dir, seed=0, epochs=2, errors=(0.05, 0.04), model="SingleLayerCAE", status="finished", **options):
    """A run folder holding what `bench train` writes for a run of `epochs` epochs whose
    validation errors were `errors`, its documents made by bench's own records."""
    config = TrainConfig(model=model, dataset="Digits", seed=seed, epochs=epochs,
                         optimizer_args={"learning_rate": 0.001}, log_dir=str(log_dir), **options)
    run = RunFolder.for_config(config)
    run.path.mkdir(parents=True)
    (run.path / "config.yaml").write_text(write_yaml(config.to_dict()))
    results = {}
    for epoch, error in enumerate(errors[:epochs], 1):
        best = dict(error=error, mse=error / 2, psnr=20.0, **results_file.measured("best", epoch, epoch * 10, "validation"))
        results_file.epoch_done(results, {"epoch": epoch, "step": epoch * 10, "train_error": error * 1.1,
                                  "validation_error": error}, best)
    last = min(epochs, len(errors))
    measured = {split: dict(error=errors[last - 1], mse=errors[last - 1] / 2, psnr=20.0,
                            **results_file.measured("best", last, last * 10, split)) for split in SPLITS_SHOWN}
    if status == "finished":
        results_file.final_metrics(results, measured["validation"], measured["test"])
    results_file.progress(results, status, epochs_done=last, epochs_planned=epochs, best_epoch=last, steps=last * 10)
    run.write_results(results)
    return run


# -- results.json: one schema, one line naming the key ----------------------------------

def nested(depth):
    return "[" * depth + "]" * depth


DAMAGED_RESULTS = {
    "nested 200,000 deep": (lambda text: '{"history": ' + nested(200_000) + "}", "nested too deeply"),
    "probe_labels: 5": (lambda text: _with(text, probe_labels=5), "probe_labels is a number (5), not an object"),
    "data: x": (lambda text: _with(text, data="x"), "data is text ('x'), not an object"),
    "a measurement without provenance": (
        lambda text: _changed(text, lambda r: [r["best"]["test"].pop(key) for key in ("checkpoint", "epoch")]),
        "results.best.test lacks 'checkpoint'"),
    "a probe missing keys": (lambda text: _with(text, probe={"codes": 0.9}), "results.probe lacks 'pixels'"),
    "an anomaly record missing keys": (lambda text: _with(text, anomaly={"roc_auc": 0.8, "average_precision": 0.7}),
                                       "results.anomaly lacks 'seen_classes'"),
    "epochs_done as text": (lambda text: _with(text, epochs_done="2"), "epochs_done is '2', not an integer"),
    "an unknown status": (lambda text: _with(text, status="done"), "status is 'done', not one of"),
    "an accuracy above 1": (lambda text: _changed(text, lambda r: r.update(probe=_probe(codes=1.5))),
                            "results.probe.codes is 1.5, outside [0, 1]"),
    "epochs out of order": (lambda text: _changed(text, lambda r: r["history"].reverse()), "out of order"),
    "a list": (lambda text: "[1, 2]", "it holds a list, not an object"),
    "not UTF-8": (lambda text: b"\xff\xfe{", "results.json is damaged"),
}


def _with(text, **fields):
    return json.dumps(dict(json.loads(text), **fields))


def _changed(text, change):
    results = json.loads(text)
    change(results)
    return json.dumps(results)


def _probe(**values):
    record = {"codes": 0.9, "pixels": 0.8, "train_images": 100, "features": 64, "converged": True,
              **results_file.measured("best", 2, 20, "test")}
    return dict(record, **values)


@pytest.mark.parametrize("case", DAMAGED_RESULTS)
def test_a_results_json_bench_never_writes_is_named_with_its_key(tmp_path, case):
    run = made_run(tmp_path / "log")
    damage, fragment = DAMAGED_RESULTS[case]
    content = damage(run.sub("results.json").read_text())
    (run.sub("results.json").write_bytes if isinstance(content, bytes) else run.sub("results.json").write_text)(content)
    with pytest.raises(DamagedFileError) as caught:
        run.read_results()
    message = str(caught.value)
    assert fragment in message and str(run.sub("results.json")) in message and "\n" not in message
    assert "--restart" in message


def test_every_record_bench_writes_passes_the_schema(tmp_path):
    run = made_run(tmp_path / "log")
    few = {"draws": 3, "test_images": 360, "features": 64, "skipped": {"1000": "the smallest class has 120"},
           "per_class": {"10": {"codes": [0.5, 0.6, 0.7], "pixels": [0.4, 0.5, 0.6], "codes_mean": 0.6,
                                "codes_std": 0.1, "pixels_mean": 0.5, "pixels_std": 0.1}}}
    anomaly = {"roc_auc": 0.9, "average_precision": 0.8, "seen_classes": [0, 1], "seen_images": 70,
               "unseen_images": 290}

    def recorded(results):
        results_file.field_result(results, "probe", _probe())
        results_file.field_result(results, "probe_labels", dict(few, **results_file.measured("best", 2, 20, "test")))
        results_file.field_result(results, "anomaly", dict(anomaly, **results_file.measured("best", 2, 20, "test")))
        results_file.evaluation(results, "last checkpoint, test, noise 0.5",
                        dict(error=0.1, mse=0.05, psnr=13.0, **results_file.measured("last", 2, 20, "test", 0.5)))
        return results

    run.update_results(recorded)
    assert set(RunFolder(run.path).read_results()) >= {"probe", "probe_labels", "anomaly", "evaluations", "history"}


def test_a_results_json_missing_from_a_trained_run_is_damage_not_a_fresh_start(tmp_path):
    run = made_run(tmp_path / "log")
    run.sub("results.json").unlink()
    assert run.read_results() == {}  # no trained state: a run that has not recorded its first epoch
    (run.sub("checkpoints")).mkdir()
    (run.sub("checkpoints") / "checkpoint").write_text('model_checkpoint_path: "ckpt-20"\n')
    with pytest.raises(DamagedFileError, match="results.json is missing, though .*checkpoints holds a trained state"):
        run.read_results()


# -- config.yaml ------------------------------------------------------------------------

DAMAGED_CONFIGS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not UTF-8 text"),
    "model_args: hello": ("model_args: hello", "model_args is text ('hello'), not a mapping"),
    "dataset: [a, b]": ("dataset: [a, b]", "dataset is a list (['a', 'b']), not text"),
    "batch_size: [32]": ("batch_size: [32]", "batch_size is a list ([32]), not an integer"),
    "epochs: true": ("epochs: true", "epochs is true/false (True), not an integer"),
    "epochs: 1.7": ("epochs: 1.7", "epochs is a number (1.7), not an integer"),
    "epochs: 0": ("epochs: 0", "--epochs must be a positive integer"),
    "a key given twice": ("seed: 1\nseed: 2", "the key 'seed' is given twice"),
    "no model": (None, "it lacks 'model'"),
}


@pytest.mark.parametrize("case", DAMAGED_CONFIGS)
def test_a_config_yaml_bench_never_writes_is_named_with_its_key(tmp_path, case):
    run = made_run(tmp_path / "log")
    content, fragment = DAMAGED_CONFIGS[case]
    path = run.sub("config.yaml")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith("model:")))
    else:  # the line replaces the key's line, or is added
        key = content.split(":")[0]
        lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}:")]
        path.write_text("\n".join(lines + content.splitlines()) + "\n")
    with pytest.raises(DamagedFileError) as caught:
        run.read_config()
    assert fragment in str(caught.value) and "config.yaml" in str(caught.value) and "\n" not in str(caught.value)


def test_a_key_given_twice_is_refused_in_every_yaml_bench_reads(tmp_path):
    (tmp_path / "run.yaml").write_text("model: SingleLayerCAE\ndataset: Digits\nepochs: 1\nepochs: 2\n")
    result = bench("train", "--config", tmp_path / "run.yaml")
    assert result.exit_code == 2 and "the key 'epochs' is given twice (line 4)" in result.stderr


# -- bench compare: every run listed, lengths kept apart ---------------------------------

def test_compare_lists_every_run_and_marks_each_damaged_one(tmp_path, monkeypatch):
    log = tmp_path / "log"
    good = made_run(log, seed=0)
    for seed, (name, damage) in enumerate({
            "results.json": lambda run: run.sub("results.json").write_text('{"probe_labels": 5}'),
            "config.yaml": lambda run: run.sub("config.yaml").write_text("dataset: [a, b]\n"),
            "no config.yaml": lambda run: run.sub("config.yaml").unlink()}.items(), 1):
        damage(made_run(log, seed=seed))
    monkeypatch.chdir(tmp_path)
    for output_format in ("table", "csv", "json", "markdown"):
        result = bench("compare", "--no-group", "--format", output_format)
        assert result.exit_code == 0, result
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 3, result.stderr
        assert any("probe_labels is a number (5)" in line for line in warnings)
        assert any("dataset is a list" in line for line in warnings)
        assert any("is not a bench run folder (it has no config.yaml)" in line for line in warnings)
    table = bench("compare", "--no-group", "--wide").stdout
    assert table.count("config.yaml damaged") == 2 and table.count("results.json damaged") == 1
    assert good.path.name in json.dumps(json.loads(bench("compare", "--format", "json").stdout)["runs"][0])


def test_runs_of_other_lengths_are_never_grouped_or_tested_together(tmp_path, monkeypatch):
    log = tmp_path / "log"
    made_run(log, seed=0, epochs=5, errors=(0.05, 0.04, 0.03, 0.02, 0.01))
    for seed in (1, 2):
        made_run(log, seed=seed, epochs=2, errors=(0.05, 0.04 + seed / 1000))
    for seed in (0, 1):  # another setting, 2 epochs: comparable with the 2-epoch runs only
        made_run(log, seed=seed, epochs=2, errors=(0.06, 0.045 + seed / 1000), l2_penalty=0.001)
    monkeypatch.chdir(tmp_path)
    document = json.loads(bench("compare", "--format", "json").stdout)
    groups = {(group["l2"], group["epochs"]): group for group in document["groups"]}
    assert set(groups) == {(0.0, 5), (0.0, 2), (0.001, 2)}
    assert groups[(0.0, 5)]["n"] == 1 and groups[(0.0, 2)]["n"] == 2
    assert groups[(0.0, 2)]["validation_error"]["mean"] == pytest.approx(0.0415)
    tested = {(item["setting"], item["a"], item["b"]) for item in document["differences"]}
    assert tested == {("l2_penalty", 0.0, 0.001)}  # the 5-epoch run differs in two settings: not tested
    assert all(item["n_a"] == 2 and item["n_b"] == 2 for item in document["differences"])


def test_an_interval_beyond_a_metric_s_range_says_why(tmp_path, monkeypatch):
    log = tmp_path / "log"
    made_run(log, seed=0, errors=(0.05, 0.001))
    made_run(log, seed=1, errors=(0.05, 0.02))
    monkeypatch.chdir(tmp_path)
    group = json.loads(bench("compare", "--format", "json").stdout)["groups"][0]
    assert group["validation_error"]["ci_low"] < 0
    assert "below 0" in group["validation_error"]["ci_note"] and "n=2" in group["validation_error"]["ci_note"]
    wide = bench("compare", "--wide").stdout
    assert "]†" in wide and "† the 95% interval reaches beyond what the metric can be" in " ".join(wide.split())
    assert "Student's t from n=2 runs" in " ".join(wide.split())
    assert "validation_error: the interval reaches below 0" in bench("compare", "--format", "csv").stdout


def test_a_figure_only_some_runs_of_a_group_have_says_how_many(tmp_path, monkeypatch):
    log = tmp_path / "log"
    probed = made_run(log, seed=0)
    made_run(log, seed=1)
    made_run(log, seed=2)
    probed.update_results(lambda results: results_file.field_result(results, "probe", _probe(codes=0.75)))
    monkeypatch.chdir(tmp_path)
    table = bench("compare").stdout
    assert "0.7500 (1 of 3 runs)" in table
    group = json.loads(bench("compare", "--format", "json").stdout)["groups"][0]
    assert group["probe_accuracy"]["n"] == 1 and group["n"] == 3
    assert "probe_accuracy_n" in bench("compare", "--format", "csv").stdout.splitlines()[0]


def test_a_running_run_that_no_process_holds_is_stopped(tmp_path, monkeypatch):
    run = made_run(tmp_path / "log", status="running", epochs=5)
    monkeypatch.chdir(tmp_path)
    assert compare_rows.run_row(run)["status"] == "stopped"
    assert "stopped: its results say running, but no process trains it" in " ".join(bench("compare").stdout.split())
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from bench.run.runs import RunFolder
        with RunFolder({str(run.path)!r}).lock():
            print("held", flush=True)
            time.sleep(60)
        """)], env=process_env({}), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert compare_rows.run_row(run)["status"] == "running"
        assert f"process {holder.pid} on host" in run.trainer()
    finally:
        holder.kill()
        holder.wait()
    assert run.trainer() is None


# -- results.json's lock: two processes, no record lost ------------------------------------

WRITER = """
import os, sys, time
from bench.run import results as results_file
from bench.run.runs import RunFolder

real_replace = os.replace

def slow_replace(source, target, *args, **kwargs):  # a slow disk: the rename waits
    if str(target).endswith("results.json"):
        time.sleep(float(sys.argv[3]))
    return real_replace(source, target, *args, **kwargs)

os.replace = slow_replace
run, name = RunFolder(sys.argv[1]), sys.argv[2]
for index in range(int(sys.argv[4])):
    run.update_results(lambda results: results_file.evaluation(results, f"{name} {index}", results["best"]["test"]))
"""


def test_two_processes_changing_results_json_lose_no_record(tmp_path):
    run = made_run(tmp_path / "log")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [started(subprocess.Popen([sys.executable, str(script), str(run.path), name, delay, "12"],
                                        env=process_env({}), stderr=subprocess.PIPE, text=True))
               for name, delay in (("first", "0.01"), ("second", "0.03"))]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    recorded = set(run.read_results()["evaluations"])
    assert recorded == {f"{name} {index}" for name in ("first", "second") for index in range(12)}
    assert run.sub("results.txt").read_text().count("best checkpoint (epoch 2, step 20), test") == 24


def test_the_results_lock_is_an_os_lock_that_waits_for_its_holder(tmp_path):
    run = made_run(tmp_path / "log")
    with open(run.sub(runs.RESULTS_LOCK), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        changer = started(subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            from bench.run import results as results_file
            from bench.run.runs import RunFolder
            RunFolder({str(run.path)!r}).update_results(lambda r: results_file.evaluation(r, "late", r["best"]["test"]))
            """)], env=process_env({})))
        with pytest.raises(subprocess.TimeoutExpired):
            changer.wait(timeout=1.5)  # it waits while another process holds results.json
        assert "late" not in run.read_results().get("evaluations", {})
    assert changer.wait(timeout=60) == 0
    assert "late" in run.read_results()["evaluations"]


def test_the_schema_checks_what_bench_train_config_files_give():
    with pytest.raises(schema.Invalid, match="epochs is true/false"):
        check_values({"epochs": True}, run_config=False)
    check_values({"epochs": 3, "unknown_later_option": 1}, run_config=False)


def test_finding_runs_skips_hidden_staging_folders(tmp_path):
    run = made_run(tmp_path / "log")
    (run.path.parent / ".staging.123.new" / "checkpoints").mkdir(parents=True)
    (run.path / "projector").mkdir()
    assert [found.path for found in runs.find_runs(tmp_path / "log")] == [run.path]
    with pytest.raises(BenchError):
        RunFolder(tmp_path / "log" / "nothing").read_config()


def test_results_txt_says_when_the_probe_did_not_converge(tmp_path):
    run = made_run(tmp_path / "log")
    run.update_results(lambda results: results_file.field_result(results, "probe", _probe(converged=False)))
    text = run.sub("results.txt").read_text()
    assert "linear probe" in text and "not converged" in text
    run.update_results(lambda results: results_file.field_result(results, "probe", _probe(converged=True)))
    assert "not converged" not in run.sub("results.txt").read_text()


def test_compare_below_a_usable_width_shows_a_block_per_run(tmp_path):
    """At 30 columns no number is cut and no model name broken: one block per run; at 100, the table."""
    for seed, errors in ((0, (0.05, 0.04)), (1, (0.06, 0.05))):
        made_run(tmp_path / "log", seed=seed, errors=errors)
    narrow = bench("compare", "--log-dir", tmp_path / "log", "--no-group", env={"COLUMNS": "30"})
    assert narrow.exit_code == 0, narrow
    assert narrow.stdout.count("SingleLayerCAE Digits") == 2 and "  val error: *0.04000" in narrow.stdout
    assert "SingleLayer\n" not in narrow.stdout
    wide = bench("compare", "--log-dir", tmp_path / "log", "--no-group", env={"COLUMNS": "100"})
    assert "val error" in wide.stdout and "  val error:" not in wide.stdout
