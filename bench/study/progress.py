"""Where a run trained by another process stands, for the live progress of sweeps, searches
and confirmations (bench.console.RunsBoard)."""

import json

from bench.run.runs import RESULTS_JSON, RunFolder


def epochs_of(folder):
    """(epochs done, epochs planned or None) of the run in `folder`, as its results.json says
    now ((0, None) before it has one). Read without a lock: results.json is replaced whole."""
    try:
        results = json.loads(RunFolder(folder).sub(RESULTS_JSON).read_text())
    except (OSError, ValueError, TypeError):
        return 0, None
    return results.get("epochs_done", 0), results.get("epochs_planned")
