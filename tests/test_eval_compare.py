"""`bench eval` and `bench compare` on real runs."""

import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import PROJECT, assert_one_line_error, bench, bench_process, inside, read_results, run_dir, train_quietly

RUN = run_dir("SingleLayerCAE")
RUN_L2 = run_dir("SingleLayerCAE", "_l2=0.01", epochs=1)


@pytest.fixture(scope="module")
def two_runs_template(tmp_path_factory, zoo_runs):
    """The shared SingleLayerCAE run (2 epochs) and one with L2 0.01 (1 epoch), made once."""
    folder = tmp_path_factory.mktemp("two_runs")
    shutil.copytree(zoo_runs[1]["SingleLayerCAE"], folder / RUN)
    with inside(folder):
        train_quietly("-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--l2-penalty", "0.01",
                      env=zoo_runs[2])
    return folder


@pytest.fixture
def two_runs(workspace, two_runs_template):
    """A copy of the two runs in this test's workspace."""
    shutil.copytree(two_runs_template / "log", workspace / "log")
    return workspace


def test_eval_reproduces_the_results_and_records_them(two_runs):
    best_test = read_results(RUN)["best"]["test"]
    result = bench("eval", RUN)
    assert result.exit_code == 0, result
    assert f"{best_test['error']:.5f}" in result.stdout and "[-1, 1]" in result.stdout
    recorded = read_results(RUN)["evaluations"]["best checkpoint, test"]
    assert recorded["error"] == pytest.approx(best_test["error"], rel=1e-6)
    assert "bench eval:" in (RUN / "results.txt").read_text()

    last = bench("eval", RUN, "--checkpoint", "last", "--split", "validation", "--batch-size", "50",
                 "--data-dir", "unused-by-digits")
    assert last.exit_code == 0, last
    values = read_results(RUN)["evaluations"]["last checkpoint, validation"]
    assert values["psnr"] == pytest.approx(10 * math.log10(1 / values["mse"]))


def test_compare_rows_filters_and_sorting(two_runs):
    result = bench("compare", "--wide")
    assert result.exit_code == 0, result
    rows = [line for line in result.stdout.splitlines() if "SingleLayerCAE" in line]
    assert len(rows) == 2
    assert "0.01" in result.stdout and "finished" in result.stdout
    by_validation = [read_results(run)["best"]["validation"]["error"] for run in (RUN, RUN_L2)]
    expected_first = "0.01" if by_validation[1] < by_validation[0] else " 0 "
    assert expected_first in rows[0]
    assert "no run under log is selected by --dataset MNIST" in bench("compare", "--dataset", "MNIST").stdout
    assert len([line for line in bench("compare", "--model", "SingleLayerCAE", "--sort", "test_psnr").stdout.splitlines()
                if "SingleLayerCAE" in line]) == 2
    assert "no runs under elsewhere" in bench("compare", "--log-dir", "elsewhere").stdout


def test_compare_reads_runs_without_tensorflow(two_runs):
    probe = textwrap.dedent("""
        import sys
        from bench.cli import cli
        try:
            cli.main(["compare"], prog_name="bench")
        except SystemExit:
            pass
        print("TF_IMPORTED" if "tensorflow" in sys.modules else "TF_NOT_IMPORTED")
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=two_runs,
                         env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert "TF_NOT_IMPORTED" in out.stdout and out.stdout.count("SingleLayerCAE") == 2, out


def test_regular_install_finds_the_builtin_plugins(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(PROJECT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert (target / "bench" / "builtin_models" / "SingleLayerCAE.py").is_file()
    assert not (target / "models").exists() and not (target / "inputs").exists()  # no generic top-level names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-c", "from bench.cli import main; main()", "list"],
                         capture_output=True, text=True, cwd=elsewhere,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    for name in ("SingleLayerCAE", "MNIST", "Cifar10", "Digits", "FashionMNIST"):
        assert name in out.stdout
    where = subprocess.run([sys.executable, "-c", "from bench import plugins; "
                            "print(plugins.find('model', 'SingleLayerCAE').path)"],
                           capture_output=True, text=True, cwd=elsewhere,
                           env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert Path(where.stdout.strip()) == (target / "bench" / "builtin_models" / "SingleLayerCAE.py").resolve()


def test_compare_formats_filters_and_best_marks(two_runs):
    import csv
    import io
    import json

    rows = list(csv.DictReader(io.StringIO(bench("compare", "--format", "csv").stdout)))
    assert len(rows) == 2 and {row["l2"] for row in rows} == {"0.0", "0.01"}
    best_validation = min(rows, key=lambda row: float(row["validation_error"]))
    document = json.loads(bench("compare", "--format", "json").stdout)
    assert document["best"]["validation_error"] == {"Digits": best_validation["path"]}  # the best per dataset
    assert len(document["runs"]) == 2 and document["runs"][0]["config"]["model"] == "SingleLayerCAE"
    markdown = bench("compare", "--format", "markdown").stdout
    assert markdown.splitlines()[0].startswith("| model |") and markdown.count("**") == 2 * 5  # val error; test error, mse, psnr, ssim
    table = bench("compare", "--wide").stdout
    assert table.count("*") >= 4 and "marks the best" in table
    narrow = bench("compare", env={"COLUMNS": "80"}).stdout  # val and test error; mse, psnr with --wide
    assert narrow.count("*") >= 2 and "all finished" in narrow and "l2=0.01" in narrow
    only_l2 = list(csv.DictReader(io.StringIO(
        bench("compare", "--where", "l2_penalty=0.01", "--format", "csv").stdout)))
    assert [row["l2"] for row in only_l2] == ["0.01"]
    none = bench("compare", "--where", "l2_penalty=0.5", "--where", "model=SingleLayerCAE")
    assert none.exit_code == 0 and "no run under log is selected by --where l2_penalty=0.5" in none.stdout
    assert_one_line_error(bench("compare", "--where", "l2_penalti=0.5"), "no run under log has a setting 'l2_penalti'",
                          "did you mean l2_penalty", exit_code=2)
    assert_one_line_error(bench("compare", "--where", "l2_penalty"), "is not KEY=VALUE", exit_code=2)
    assert_one_line_error(bench("compare", "--format", "xml"), "xml", exit_code=2)


def test_ssim_goes_from_training_to_compare_and_a_run_older_than_it_stays_readable(two_runs):
    """SSIM is measured with the other metrics; a results.json written before bench had it
    (no ssim anywhere) is still read by compare and eval, which adds it."""
    import json

    trained = read_results(RUN)["best"]["test"]["ssim"]
    reader = bench_process("compare", "--format", "json", cwd=two_runs)  # a new process reads it from disk
    stdout, _ = reader.communicate(timeout=120)
    (row,) = [row for row in json.loads(stdout)["runs"] if row["path"] == str(RUN)]
    assert row["test_ssim"] == trained and 0 < trained < 1
    older = json.loads((RUN_L2 / "results.json").read_text())
    for measurement in older["best"].values():
        del measurement["ssim"]
    for entry in older["history"]:
        del entry["validation_ssim"]
    (RUN_L2 / "results.json").write_text(json.dumps(older))
    shown = bench("compare", "--wide", "--sort", "test_ssim")
    assert shown.exit_code == 0 and "test ssim" in shown.stdout and "—" in shown.stdout, shown
    rows = {row["path"]: row for row in json.loads(bench("compare", "--format", "json").stdout)["runs"]}
    assert rows[str(RUN_L2)]["test_ssim"] is None and rows[str(RUN)]["test_ssim"] == trained
    evaluated = bench("eval", RUN_L2, "--split", "test")
    assert evaluated.exit_code == 0 and "ssim" in evaluated.stdout, evaluated
    assert 0 < read_results(RUN_L2)["evaluations"]["best checkpoint, test"]["ssim"] < 1


def test_eval_reports_a_linear_probe_of_the_codes_when_asked_after_the_metrics(two_runs):
    result = bench("eval", RUN, "--probe")
    assert result.exit_code == 0, result
    assert "linear probe" in result.stdout and "raw pixels" in result.stdout
    assert result.stdout.index("psnr") < result.stdout.index("linear probe: encoding")  # the metrics come first
    assert "fitting on the codes" in result.stdout  # progress while it works
    probe = read_results(RUN)["probe"]
    assert probe["train_images"] == 1257 and probe["features"] > 0
    assert 0.5 < probe["codes"] <= 1.0 and 0.8 < probe["pixels"] <= 1.0  # ten classes: chance is 0.1
    assert "linear probe" in (RUN / "results.txt").read_text()
    shown = bench("compare").stdout
    assert f"{probe['codes']:.4f}" in shown and f"{probe['pixels']:.4f}" in shown  # the raw-pixel baseline beside
    skipped = bench("eval", RUN_L2)
    assert skipped.exit_code == 0 and "linear probe" not in skipped.stdout and "probe" not in read_results(RUN_L2)


def test_compare_plot(two_runs):
    import matplotlib.image

    result = bench("compare", "--plot", "curves.png")
    assert result.exit_code == 0, result
    assert matplotlib.image.imread("curves.png").shape[1] > 300
    assert_one_line_error(bench("compare", "--dataset", "MNIST", "--plot", "none.png"), "nothing to plot", exit_code=2)


def test_eval_of_a_workspace_model_from_elsewhere_says_where_it_came_from(workspace, zoo_runs):
    _, runs, env = zoo_runs
    run = Path(shutil.copytree(runs["TinyCAE"], workspace / "run"))  # its models/TinyCAE.py is not here
    result = bench("eval", run, env=env)
    assert_one_line_error(result, "trained with model TinyCAE from", "models/TinyCAE.py", "not found from",
                          "--model-file", "model_source/TinyCAE.py", exit_code=2)
    result = bench("eval", run, "--model-file", run / "model_source" / "TinyCAE.py", env=env)
    assert result.exit_code == 0, result


@pytest.mark.parametrize("columns", [80, 100])
def test_compare_fits_the_terminal_without_cutting_a_number(zoo_runs, columns):
    folder, runs, env = zoo_runs
    with inside(folder):
        table = bench("compare", env=dict(env, COLUMNS=str(columns))).stdout
        wide = bench("compare", "--wide", env=env).stdout
    assert max(len(line) for line in table.splitlines()) <= columns, table
    assert max(len(line) for line in wide.splitlines()) > 120 and "test psnr" in wide
    for run in runs.values():
        best = read_results(run)["best"]
        for split in ("validation", "test"):
            assert f"{best[split]['error']:.5f}" in table, (run, table)
    assert "options" not in table and "comment" not in table  # empty columns are dropped
