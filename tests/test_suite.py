"""The suite's own arrangements: the longest tests it starts first are tests that exist."""

import pytest

from conftest import LONGEST_FIRST, PROJECT


@pytest.mark.unit
def test_every_test_started_first_exists():
    """A renamed test would quietly fall back to its place in its file (and might run alone at the end)."""
    for prefix in LONGEST_FIRST:
        file_name, function = prefix.split("::")
        source = (PROJECT / "tests" / file_name).read_text()
        assert f"def {function}" in source, f"{prefix} names no test: update conftest.LONGEST_FIRST"
