"""A full disk and a read-only file system, real ones (tmpfs mounts in a mount namespace of
the test's own): train, eval, export and prepare each say so in one line naming the path,
leave nothing half-written, and a run stopped by a full disk is never shown as running."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import process_env


# Run inside the namespace, with the two mounts made: every command in this one process.
COMMANDS = """
import json, os, subprocess, sys
from pathlib import Path
from click.testing import CliRunner
from bench.cli import cli

full, read_only = Path(sys.argv[1]), Path(sys.argv[2])
TRAIN = ("train", "-m", "SingleLayerCAE", "-d", "Digits")


def bench(*args):
    result = CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)
    return {"exit": result.exit_code, "stderr": result.stderr}


found = {"train on a full disk": bench(*TRAIN, "--epochs", "2", "--log-dir", full / "log")}
found["compare of it"] = json.loads(CliRunner().invoke(cli, ["compare", "--log-dir", str(full / "log"), "--format",
                                                             "json"]).stdout)["runs"]
(full / "filler").write_bytes(b"x" * (os.statvfs(full).f_bavail * os.statvfs(full).f_frsize))  # full again
run = read_only / "log" / "SingleLayerCAE" / "Digits_Adam_lr=0.001_epochs=1"
assert bench(*TRAIN, "--epochs", "1", "--log-dir", read_only / "log")["exit"] == 0
subprocess.run(["mount", "-o", "remount,ro", str(read_only)], check=True)
found["eval on a read-only disk"] = bench("eval", run)
found["train on a read-only disk"] = bench(*TRAIN, "--epochs", "2", "--log-dir", read_only / "log")
found["export to a read-only disk"] = bench("export", run, "--out", read_only / "export")
found["prepare to a full disk"] = bench("prepare", "Digits", "--out", full / "shards")
found["export to a full disk"] = bench("export", run, "--out", full / "export")
found["prepare to a read-only disk"] = bench("prepare", "Digits", "--out", read_only / "shards")
found["left on the full disk"] = sorted(os.listdir(full)) + sorted(os.listdir(full / "shards")
                                                                   if (full / "shards").is_dir() else [])
print(json.dumps(found))
"""


@pytest.fixture
def disks(tmp_path):
    """Run COMMANDS with `full/` a 400 kB tmpfs and `read_only/` a tmpfs made read-only after a
    run is trained on it; their findings ({case: {exit, stderr}})."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    full, read_only = tmp_path / "full", tmp_path / "read_only"
    full.mkdir()
    read_only.mkdir()
    script = tmp_path / "commands.py"
    script.write_text(COMMANDS)
    shell = (f"mount -t tmpfs -o size=400k tmpfs {full} && mount -t tmpfs -o size=16m tmpfs {read_only} && "
             f"exec {sys.executable} {script} {full} {read_only}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", shell], cwd=tmp_path, env=process_env({}),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "mount" in done.stderr and "permission denied" in done.stderr.lower():
        pytest.skip(f"this machine cannot mount in a new namespace: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), full, read_only


def one_line(finding):
    errors = [line for line in finding["stderr"].splitlines() if line.startswith("error: ")]
    assert finding["exit"] == 1 and len(errors) == 1 and "Traceback" not in finding["stderr"], finding
    return errors[0]


def test_full_and_read_only_disks_are_one_line_naming_the_path(disks):
    found, full, read_only = disks
    for case, mount, reason in (("train on a full disk", full, "no space is left on its device"),
                                ("export to a full disk", full, "no space is left on its device"),
                                ("prepare to a full disk", full, "no space is left on its device"),
                                ("eval on a read-only disk", read_only, "read-only"),
                                ("train on a read-only disk", read_only, "read-only"),
                                ("export to a read-only disk", read_only, "read-only"),
                                ("prepare to a read-only disk", read_only, "read-only")):
        line = one_line(found[case])
        assert reason in line.lower() and str(mount) in line, (case, line)
    # the run the full disk stopped is not shown as running, and no half-written output is left
    assert [row["status"] for row in found["compare of it"]] in (["interrupted"], ["stopped"])
    assert found["left on the full disk"] == ["filler", "log", "shards"]  # no export, no shard, no hidden folder
