"""Progress lines: rate and ETA from a fake clock, drawn only on a terminal."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from detector.observability.metrics import WorkerMetrics
from detector.observability.progress import (
    Progress,
    Sample,
    replay_progress,
    run_progress,
    run_sample,
)
from detector.replay import read_lines


class Terminal(io.StringIO):
    """A text stream that says it is a TTY."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_shows_share_rate_and_eta() -> None:
    """Bytes done of total, events/s over the window and the time left at the current speed."""
    clock = Clock()
    state = {"sample": Sample(0, 0, 4 * 2**20)}
    progress = Progress("replay", lambda: state["sample"], Terminal(), "bytes", clock)
    first = progress.line()
    assert first.startswith("replay  0 B / 4.0 MiB (0%)  0 events")
    assert "ETA" not in first  # no speed known yet

    clock.now = 2.0
    state["sample"] = Sample(20_000, 2**20, 4 * 2**20)
    line = progress.line()

    assert "1.0 MiB / 4.0 MiB (25%)" in line
    assert "20,000 events" in line
    assert "10,000 events/s" in line
    assert line.endswith("ETA 0:00:06")


def test_records_without_total_show_no_eta() -> None:
    """Without a total (stdin), the line has counts and rate but no share or ETA."""
    clock = Clock()
    state = {"sample": Sample(0, 0, None)}
    progress = Progress("replay", lambda: state["sample"], Terminal(), "bytes", clock)
    progress.line()
    clock.now = 1.0
    state["sample"] = Sample(500, 10_000, None)
    line = progress.line()
    assert "500 events/s" in line
    assert "%" not in line and "ETA" not in line


def test_replay_progress_on_a_terminal(tmp_path: Path) -> None:
    """On a TTY the lines are unchanged, and the final line reports the whole file as read."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    terminal = Terminal()
    with (
        events.open("rb") as stream,
        replay_progress(stream, read_lines(stream), terminal) as lines,
    ):
        got = list(lines)
    with events.open("rb") as stream:
        expected = list(read_lines(stream))

    assert got == expected
    out = terminal.getvalue()
    assert out.startswith("\r") and out.endswith("\n")
    final = out.rstrip("\n").rsplit("\r", 1)[-1]
    assert "28 B / 28 B (100%)" in final
    assert "3 events" in final


def test_quiet_when_not_a_terminal(tmp_path: Path) -> None:
    """Not a TTY: the given iterable passes through untouched and nothing is written."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"a": 1}\n')
    quiet = io.StringIO()
    with events.open("rb") as stream:
        lines = read_lines(stream)
        with replay_progress(stream, lines, quiet) as passed:
            assert passed is lines
            assert list(passed) == [b'{"a": 1}\n']
    assert quiet.getvalue() == ""


def test_run_progress_counts_to_the_end_offsets(workload: Any) -> None:
    """Records consumed of those up to the end offsets seen at start, per partition."""
    metrics = WorkerMetrics(workload.config())
    metrics.started({0: 1000, 1: 500, 2: 0})
    metrics.batch(
        300, [TopicPartition("e", 0, 200), TopicPartition("e", 1, 100)], [], [], None, 0.1
    )

    sample = run_sample(metrics)

    assert (sample.events, sample.done) == (300, 300)
    assert sample.total == 300 + 800 + 400
    terminal = Terminal()
    with run_progress(metrics, True, terminal) as progress:
        assert progress is not None
    assert "300 / 1,500 records (20%)" in terminal.getvalue()
    with run_progress(metrics, False, Terminal()) as progress:
        assert progress is None


def test_cli_replay_draws_progress_on_a_terminal(on_a_pty: Callable[..., Any]) -> None:
    """`drift-detector replay` on a TTY draws progress up to 100%, then prints the summary."""
    root = Path(__file__).absolute().parents[2]
    events = root / "examples" / "events.jsonl"
    args = [sys.executable, "-m", "detector.cli", "replay", "--config"]
    args += [str(root / "examples" / "fraud.yaml"), "--input", str(events)]

    code, drawn = on_a_pty(args, root)

    assert code == 0
    text = drawn.decode()
    size = events.stat().st_size
    assert "\rreplay  " in text
    assert "(100%)" in text and "6,000 events" in text and "events/s" in text
    assert f"{size / 2**20:.1f} MiB" in text or f"{size / 2**10:.1f} KiB" in text
    assert text.index("(100%)") < text.index("replay summary: ")
