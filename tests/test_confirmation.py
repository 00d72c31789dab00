"""Honest winners: a search confirms its best trials over fresh seeds (killed and resumed as
trials are), says how sure it is (Welch, bootstrap, the expected best from k trials, the
spread of repeats, importances only from trials enough), and compare selects a study,
tests any two configurations and takes the keys and numbers as search prints them. Model
options declare their choices; a space outside them is refused before any trial."""

import itertools
import json
import os
import signal
import statistics
import time
from pathlib import Path

import pytest

from conftest import assert_one_line_error, bench, bench_process, read_results

SPACE = """\
model: SingleLayerCAE
dataset: Digits
epochs: 2
batch_size: 64
extras: none
optimizer_args.learning_rate: {choice: [0.01, 0.003, 1.0e-5, 1.0e-6]}
"""
SEARCH = ("search", "--space", "space.yaml", "--study", "c", "--sampler", "grid", "--trials", "4",
          "--pruner", "asha", "--min-epochs", "1")


def finished(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def confirmation_of(shown):
    return json.loads(shown.stdout)["confirmation"]


def test_a_search_confirms_its_best_trials_over_fresh_seeds_and_a_new_process_reads_the_same_figures(workspace):
    """A 4-point grid, then its confirmation run later with the same command and --confirm 2:
    the two best finished trials are retrained over seeds no trial used (one confirmation
    process killed with SIGKILL and resumed from its checkpoint), the winner is the best
    confirmed mean, tested against the runner-up; a new process reads the same figures from
    the study and the run folders, and the same command again trains nothing."""
    pytest.importorskip("optuna")
    from test_search import trial_training

    Path("space.yaml").write_text(SPACE)
    first = bench(*SEARCH, "--confirm", "0")
    assert first.exit_code == 0 and "confirmation" not in first.stdout, first
    confirming = bench_process(*SEARCH, "--confirm", "2", "--confirm-repeats", "2", cwd=workspace)
    pid, killed = trial_training([confirming], time.time() + 240)
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    code, stdout, stderr = finished(confirming)
    assert code == 0, stderr
    assert "confirmation: 4 of 4 run(s) to train" in stdout and "started again from its checkpoint (retry 1" in stderr
    assert "resuming at epoch" in (killed / "train.log").read_text()
    assert "winner: trial" in stdout and "seeds the search never used (1000, 1001)" in stdout

    shown = bench_process("search", "--study", "c", "--show", "--format", "json", cwd=workspace)  # a new process
    code, text, stderr = finished(shown)
    assert code == 0, stderr
    document = json.loads(text)
    confirmation = document["confirmation"]
    assert confirmation["seeds"] == [1000, 1001] and len(confirmation["candidates"]) == 2
    complete = sorted((row for row in document["trials"] if row["state"] == "COMPLETE"), key=lambda row: row["value"])
    assert [c["trial"] for c in confirmation["candidates"]] == [row["number"] for row in complete[:2]]
    for candidate in confirmation["candidates"]:
        assert {"trial", "settings", "search_value", "n", "mean", "std", "ci95", "runs"} <= set(candidate)
        values = [read_results(run)["best"]["validation"]["error"] for run in candidate["runs"]]
        assert all(f"seed={seed}" in run for run, seed in zip(candidate["runs"], (1000, 1001)))
        assert candidate["n"] == 2 and candidate["mean"] == pytest.approx(statistics.mean(values), abs=0)
        assert candidate["std"] == pytest.approx(statistics.stdev(values))
        low, high = candidate["ci95"]
        assert low < candidate["mean"] < high
    means = {c["trial"]: c["mean"] for c in confirmation["candidates"]}
    assert confirmation["winner"] == min(means, key=means.get) and confirmation["runner_up"] != confirmation["winner"]
    from scipy import stats

    winner, runner = (next(c for c in confirmation["candidates"] if c["trial"] == confirmation[key])
                      for key in ("winner", "runner_up"))
    expected = stats.ttest_ind(winner["values"], runner["values"], equal_var=False).pvalue
    assert confirmation["p_value"] == pytest.approx(expected)
    assert 0.5 <= confirmation["probability_better"] <= 1.0
    assert confirmation["separated"] == (confirmation["p_value"] < 0.05)
    curve = document["expected_best"]
    assert [point["k"] for point in curve] == list(range(1, 5))  # 2 finished and 2 pruned trials
    assert all(a["mean"] >= b["mean"] for a, b in zip(curve, curve[1:]))

    again = bench(*SEARCH, "--confirm", "2", "--confirm-repeats", "2")
    assert again.exit_code == 0 and "confirmation: 0 of 4 run(s) to train" in again.stdout, again
    assert confirmation_of(bench("search", "--study", "c", "--show", "--format", "json")) == confirmation

    the_table_says_how_sure_it_is(workspace, confirmation)
    compare_selects_the_study_and_tests_any_two(workspace, document, confirmation)
    a_pruned_run_continued_by_hand_is_flagged(document)


def a_pruned_run_continued_by_hand_is_flagged(document):
    """A pruned trial's value is its run's best when stopped; its run continued by hand (as the
    pruned line suggests) is flagged, never shown as if it held."""
    pruned = next(row for row in document["trials"] if row["state"] == "PRUNED")
    assert pruned["value"] == read_results(pruned["run"])["best"]["validation"]["error"]
    assert bench("train", "--config", Path(pruned["run"]) / "config.yaml").exit_code == 0
    shown = json.loads(bench("search", "--study", "c", "--show", "--format", "json").stdout)["trials"]
    (row,) = [row for row in shown if row["number"] == pruned["number"]]
    assert "changed since: epochs_done 2" in row["check"] and "status 'finished' (told 'pruned')" in row["check"]


def the_table_says_how_sure_it_is(workspace, confirmation):
    """--show at 80 columns: no line longer, no setting cut; below, one block per trial; no
    importances from 2 finished trials, and why; the three pictures."""
    table = bench("search", "--study", "c", "--show", env={"COLUMNS": "80"})
    assert table.exit_code == 0, table
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, table.stdout
    for value in ("0.01", "0.003", "1e-05", "1e-06"):
        assert f"optimizer_args.learning_rate={value}" in table.stdout  # whole, never cut
    assert f"trial {confirmation['winner']} (winner)" in table.stdout.replace("\n  ", " ")
    assert "importances need 10 finished trials (this study has 2)" in table.stdout.replace("\n  ", " ")
    assert "[W " not in table.stdout + table.stderr and "Warning" not in table.stderr
    narrow = bench("search", "--study", "c", "--show", env={"COLUMNS": "50"})
    assert "\n#0 " in narrow.stdout or narrow.stdout.startswith("#0") or "#0 complete" in narrow.stdout, narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines() if not line.startswith("  run:")) <= 60
    for picture in ("history.png", "parallel_coordinates.png", "expected_best.png"):
        assert (workspace / "log/_studies/c" / picture).stat().st_size > 10_000, picture


def compare_selects_the_study_and_tests_any_two(workspace, document, confirmation):
    """bench compare --study shows exactly the study's runs, grouped, with the confirmation;
    --versus tests the two candidates, picked by the rounded numbers search prints, and
    --where takes the dotted key."""
    runs = {row["run"] for row in document["trials"] if row["run"]}
    runs |= {run for candidate in confirmation["candidates"] for run in candidate["runs"]}
    bench("train", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "1")  # a run of no study
    grouped = json.loads(bench("compare", "--study", "c", "--format", "json").stdout)["groups"]
    assert {path for group in grouped for path in group["paths"]} == runs
    shown = bench("compare", "--study", "c")
    assert shown.exit_code == 0 and f"winner: trial {confirmation['winner']}" in shown.stdout, shown
    rates = [candidate["settings"]["optimizer_args.learning_rate"] for candidate in confirmation["candidates"]]
    pair = [f"optimizer_args.learning_rate={rate:.4g}" for rate in rates]
    tested = json.loads(bench("compare", "--study", "c", "--versus", *pair, "--format", "json").stdout)
    (versus,) = [item for item in tested["differences"] if item["setting"] is None and item["metric"] == "validation_error"]
    assert versus["a"] == pair[0] and versus["n_a"] == 3 and 0 <= versus["probability_b_better"] <= 1
    chosen = json.loads(bench("compare", "--where", pair[0], "--no-group", "--format", "json").stdout)["runs"]
    assert len(chosen) == 3 and all(row["lr"] == rates[0] for row in chosen)
    assert_one_line_error(bench("compare", "--versus", "optimizer_args.learning_rate=0.5", pair[0]),
                          "picks no configuration", exit_code=2)


# -- without training ---------------------------------------------------------------------

@pytest.mark.unit
def test_the_expected_best_is_the_mean_best_of_k_draws_with_replacement():
    from bench.study.statistics import expected_best

    values = [0.3, 0.1, 0.25, 0.4]
    for lower in (True, False):
        curve = expected_best(values, lower_is_better=lower)
        for point in curve:
            draws = [(min if lower else max)(pick) for pick in itertools.product(values, repeat=point["k"])]
            assert point["mean"] == pytest.approx(statistics.mean(draws))
            assert point["std"] == pytest.approx(statistics.pstdev(draws), abs=1e-12)


@pytest.mark.unit
def test_the_probability_of_improvement_and_the_rounded_numbers_of_where():
    from bench.study.rows import same_number
    from bench.study.statistics import probability_better

    assert probability_better([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) == 1.0
    assert probability_better([2.0, 2.1, 1.9], [1.0, 1.1, 0.9]) == 0.0
    assert probability_better([1.0, 2.0], [1.0, 2.0]) == pytest.approx(0.5, abs=0.02)
    assert probability_better([1.0], [2.0], lower_is_better=False) == 0.0
    assert same_number(0.0006806073438985096, 0.0006806, "0.0006806")
    assert not same_number(0.0012, 0.001, "0.001") and same_number(0.001, 0.001, "1e-3")
    assert same_number(64, 64, "64") and not same_number(65, 64, "64")


@pytest.mark.unit
def test_a_first_rung_that_prunes_most_trials_is_said():
    from bench.study.search_results import starving_lines

    def row(state, epochs):
        return {"state": state, "epochs": epochs}

    starved = [row("COMPLETE", 6)] + [row("PRUNED", 1)] * 5
    (line,) = starving_lines(starved)
    assert "5 of 6 ended trials were pruned at epoch 1" in line and "only 1 finished" in line
    assert starving_lines([row("COMPLETE", 6)] * 3 + [row("PRUNED", 3)] * 2) == []


@pytest.mark.unit
def test_model_options_declare_their_choices(workspace):
    """The built-in models' choice options are Literal annotations: bench inspect lists them with
    the defaults as JSON, and a value outside them is one line before anything trains."""
    shown = bench("inspect", "--model", "ConvAE")
    assert shown.exit_code == 0, shown
    assert 'downsample="pool" (one of "pool", "stride")' in shown.stdout and "filters=[16, 8, 8]" in shown.stdout
    assert 'loss="cross_entropy" (one of "cross_entropy", "mse")' in shown.stdout
    assert 'sparsity="kl" (one of "l1", "kl")' in bench("inspect", "--model", "SparseAE").stdout
    assert_one_line_error(bench("train", "--model", "ConvAE", "--dataset", "Digits", "--model-args",
                                '{"downsample": "strided"}'),
                          "model ConvAE's option downsample is one of \"pool\", \"stride\"; got \"strided\"",
                          exit_code=2)
    swept = bench("sweep", "--model", "ConvAE", "--dataset", "Digits", "--model-args", '{"downsample": "max"}')
    assert swept.exit_code == 1 and 'REFUSED: model_args={"downsample": "max"}' not in swept.stdout
    assert "option downsample is one of" in swept.stderr and 'got "max"' in swept.stderr, swept
    assert not Path("log").exists()
