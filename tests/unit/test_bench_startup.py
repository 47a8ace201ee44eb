"""bench/startup.py's instruction counts: callgrind's segments are the import, the first
request and the warm one, as the CPU times are."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from bench import startup

# Work of a known size at import and on the first request only: sum() over a range, about
# 35 million instructions each (180 an element).
APP = (
    "WORK = sum(range(200_000))\n"
    "pending = [True]\n"
    "def handler(event, context):\n"
    "    if pending and pending.pop():\n"
    "        sum(range(200_000))\n"
    "    return {}\n"
)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_instruction_counts_split_the_import_the_first_request_and_the_warm_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(APP)
    spec = {"name": "app", "arn": "arn:aws:lambda:us-east-1:111122223333:function:app"}
    # The layer's folder on the path: these apps import nothing from one.
    spec |= {"timeout": 30, "events": [dict, dict], "layer": str(tmp_path)}
    run = startup._instructions_once(tmp_path, dict(os.environ), spec)
    assert run.first is not None
    assert run.warm is not None
    assert run.warm < 1_000_000  # the handler's call alone
    assert 20_000_000 < run.first - run.warm < 60_000_000
    assert 20_000_000 < run.imported < 60_000_000
    assert run.seconds == run.imported + run.first - run.warm  # the cold start's count


def test_each_event_is_made_after_the_request_before_it(tmp_path: Path) -> None:
    # Given a handler that leaves a file per request, and a second event that looks for
    # the first request's file when it is made (as the collector's second report is put)
    (tmp_path / "app.py").write_text(
        "import pathlib\n"
        "def handler(event, context):\n"
        "    pathlib.Path(event['leave']).write_text('done')\n"
        "    return {}\n"
    )
    first, seen = tmp_path / "first", []

    def second() -> dict[str, str]:
        seen.append(first.exists())
        return {"leave": str(tmp_path / "second")}

    spec = {"name": "app", "arn": "arn:aws:lambda:us-east-1:111122223333:function:app"}
    spec |= {"timeout": 30, "events": [lambda: {"leave": str(first)}, second]}
    spec["layer"] = str(tmp_path)
    # When the cold start is timed
    run, _ = startup._run_once(tmp_path, dict(os.environ), spec)
    # Then the second event was made once the first request was over, and both ran
    assert seen == [True]
    assert (tmp_path / "second").read_text() == "done"
    assert run.warm is not None


def test_a_timed_script_that_hangs_is_killed_and_named(tmp_path: Path) -> None:
    # Given a handler that never returns
    (tmp_path / "app.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(600)\n"
    )
    spec = {"name": "stuck", "arn": "arn:aws:lambda:us-east-1:111122223333:function:stuck"}
    spec |= {"timeout": 30, "events": [dict], "layer": str(tmp_path)}
    command = [sys.executable, "-c", startup._TIMED, str(tmp_path), spec["layer"]]
    # When it is driven, Then the wait ends with an error naming it, not with `make bench`
    with pytest.raises(TimeoutError, match=r"^stuck: .* silent for 2 s"):
        startup._drive(command, dict(os.environ), spec, timeout=2)
