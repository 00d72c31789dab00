"""Every script in benchmarks/ runs: a smoke run with its smallest settings, offline (Digits,
generated images), that prints its figures. No figure is asserted: they are measurements of
this machine, made by hand (the README says how); what is asserted is that they still come."""

import subprocess
import sys

import pytest

from conftest import PROJECT, process_env

pytestmark = pytest.mark.slow  # end to end: several trainings or processes

SMOKE_RUNS = {  # script: (arguments, a line its figures are printed in)
    "throughput.py": (["--datasets", "Digits", "--models", "SingleLayerCAE", "--rounds", "1", "--limit", "512"],
                      "bench / bare:"),
    "wall_time.py": (["--dataset", "Digits", "--rounds", "1"], "bench / script"),
    "startup.py": (["--repeats", "1", "--runs", "3", "--data-dir", "no-data"], "first training step"),
    "memory.py": (["--dataset", "Digits", "--images", "2000"], "peak RSS of bench train"),
    "zoo.py": (["--dataset", "Digits", "--epochs", "1", "--models", "SingleLayerCAE"], "| SingleLayerCAE |"),
    "fidelity.py": (["--configs", "dtb-blog-mnist", "--dataset", "Digits", "--epochs", "1"], "| dtb-blog-mnist |"),
    "faults.py": (["--kills", "1", "--epochs", "2", "--batch-size", "64"], "same numbers as the reference: yes"),
    "streaming.py": (["--small", "200", "--large", "0", "--rounds", "1"], "PNG decoding alone"),
}
SCRIPTS = sorted(path.name for path in (PROJECT / "benchmarks").glob("*.py"))
NOT_RUN_ALONE = {"handwritten_mnist.py": "wall_time.py runs it", "sources.py": "a module: tests/test_sources.py"}


def test_every_script_has_a_smoke_run():
    assert sorted([*SMOKE_RUNS, *NOT_RUN_ALONE]) == SCRIPTS


@pytest.mark.parametrize("script", SMOKE_RUNS)
def test_a_benchmark_runs_and_prints_its_figures(tmp_path, script):
    arguments, figures = SMOKE_RUNS[script]
    env = process_env({"BENCH_DATA_DIR": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    done = subprocess.run([sys.executable, str(PROJECT / "benchmarks" / script), *arguments], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert figures in done.stdout, done.stdout[-3000:]

