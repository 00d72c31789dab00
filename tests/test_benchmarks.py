"""Every script in benchmarks/ runs: a smoke run with its smallest settings, offline (Digits,
generated images), that prints its figures. No figure is asserted: they are measurements of
this machine, made by hand (the README says how); what is asserted is that they still come."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, process_env


SMOKE_RUNS = {  # script: (arguments, a line its figures are printed in)
    "throughput.py": (["--datasets", "Digits", "--models", "SingleLayerCAE", "--rounds", "1", "--limit", "512"],
                      "bench / bare:"),
    "zoo.py": (["--dataset", "Digits", "--epochs", "1", "--models", "SingleLayerCAE"], "| SingleLayerCAE |"),
    "fidelity.py": (["--configs", "dtb-blog-mnist", "--dataset", "Digits", "--epochs", "1"], "| dtb-blog-mnist |"),
    "wall_time.py": (["--dataset", "Digits", "--rounds", "1"], "bench / script"),
    "startup.py": (["--repeats", "1", "--runs", "2", "--data-dir", "no-data"], "first training step"),
    "memory.py": (["--dataset", "Digits", "--images", "2000"], "peak RSS of bench train"),
    "faults.py": (["--kills", "1", "--epochs", "2", "--batch-size", "64"], "same numbers as the reference: yes"),
    "streaming.py": (["--small", "200", "--large", "0", "--rounds", "1", "--modes", "folder"], "PNG decoding alone"),
    "warm_starts.py": (["--trials", "2", "--rounds", "1", "--memory-trials", "2"], "end → next first step, cold / warm"),
    "search.py": (["--dataset", "Digits", "--epochs", "1", "--seeds", "1", "--small", "--strategies", "tpe-asha",
                   "--retrain-seeds", "0", "--workers", "1", "--chaos", "0", "--parts", "search,honesty",
                   "--honesty-strategies", "confirm", "--confirm", "1", "--confirm-repeats", "2"], "| confirm | "),
}
# These three train in their own process and start no other: one process runs them in turn.
TOGETHER = ("throughput.py", "zoo.py", "fidelity.py")
SCRIPTS = sorted(path.name for path in (PROJECT / "benchmarks").glob("*.py"))
NOT_RUN_ALONE = {"handwritten_mnist.py": "wall_time.py runs it", "sources.py": "a module: tests/test_sources.py",
                 "__init__.py": "the package's docstring"}
IN_TURN = """
import runpy, sys
for script, arguments in {runs!r}:
    sys.argv = [script, *arguments]
    print(f"== {{script}}", flush=True)
    runpy.run_path(script, run_name="__main__")
"""


def test_every_script_has_a_smoke_run():
    assert sorted([*SMOKE_RUNS, *NOT_RUN_ALONE]) == SCRIPTS


def run_scripts(tmp_path, scripts):
    """Run `scripts` with their smoke arguments in one process; {script: what it printed}."""
    env = process_env({"BENCH_DATA_DIR": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    runs = [(str(PROJECT / "benchmarks" / script), SMOKE_RUNS[script][0]) for script in scripts]
    done = subprocess.run([sys.executable, "-c", IN_TURN.format(runs=runs)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    printed = done.stdout.split("== ")[1:]
    return {Path(part.split("\n", 1)[0]).name: part for part in printed}


# Every smoke run trains, which costs about two minutes of CPU together: .ci/run smoke-runs them after
# the suite, with BENCH_BENCHMARK_SMOKE=1. The scripts that train in their own process and start no
# other run in one process, in turn.
IN_PROCESSES = [script for script in SMOKE_RUNS if script not in TOGETHER]
SMOKE = os.environ.get("BENCH_BENCHMARK_SMOKE") == "1"


@pytest.mark.parametrize("scripts", [TOGETHER, *[(script,) for script in IN_PROCESSES]], ids=" ".join)
def test_a_benchmark_runs_and_prints_its_figures(tmp_path, scripts):
    if not SMOKE:
        pytest.skip("a smoke run that trains: BENCH_BENCHMARK_SMOKE=1 (.ci/run sets it)")
    printed = run_scripts(tmp_path, scripts)
    for script in scripts:
        assert SMOKE_RUNS[script][1] in printed[script], printed[script][-3000:]


def test_every_benchmark_starts_and_reads_its_options(tmp_path):
    """`--help` of each script that starts processes of its own (the others import TensorFlow
    first, and their smoke runs are what checks them): it imports and parses."""
    env = process_env({"BENCH_DATA_DIR": str(tmp_path / "cache")})
    for script in IN_PROCESSES:
        done = subprocess.run([sys.executable, str(PROJECT / "benchmarks" / script), "--help"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage:" in done.stdout, (script, done.stderr[-2000:])

