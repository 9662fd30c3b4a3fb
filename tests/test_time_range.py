"""Event times outside 1970 up to 2200: dead-lettered as bad_time, the rest of the run unchanged."""

from __future__ import annotations

from collections import Counter

import orjson

from detector.alerts import AlertEvent
from detector.config import parse_config
from detector.events import Rejection
from detector.replay import replay
from detector.testing.synthetic import Drift, SyntheticStream, config_dict

# Times that parse but cannot be formatted (or precede the epoch), as JSON literals.
BAD_TIMES = [
    b"1e300",
    b"1e18",
    b"-1",
    b"7258118400",
    b"1" + b"0" * 30,
    b'"9999-12-31T23:59:59-01:00"',
    b'"0001-01-01T00:00:00Z"',
    b'"1969-12-31T23:59:59Z"',
]


def test_replay_dead_letters_out_of_range_times_and_keeps_the_alerts() -> None:
    """Replay exits normally, rejects exactly the bad-time lines, and alerts as without them."""
    source = SyntheticStream(seed=11)
    data = config_dict(source)
    data["run"] = {"batch_size": 700}
    config = parse_config(data)
    events = [orjson.dumps(e) for e in source.events(20_000, [Drift("amount", 10_000, 2.0)])]
    lines = list(events)
    bad_lines: list[int] = []  # 1-based line numbers in the file with the bad records
    for k, ts in enumerate(BAD_TIMES):
        at = k * 2_700  # the first line, then mid-batch ones before and after the drift
        event = orjson.loads(events[at]) | {"ts": "TS"}
        lines.insert(at + len(bad_lines), orjson.dumps(event).replace(b'"TS"', ts))
        bad_lines.append(at + len(bad_lines) + 1)

    def run(records: list[bytes]) -> tuple[list[AlertEvent], list[tuple[int, str]], Counter[str]]:
        alerts: list[AlertEvent] = []
        dead: list[tuple[int, str]] = []

        def on_rejection(line: int, rejection: Rejection, raw: bytes) -> None:
            dead.append((line, rejection.reason))

        report = replay(config, (line + b"\n" for line in records), alerts.append, on_rejection)
        return alerts, dead, report.rejected

    clean_alerts, clean_dead, _ = run(events)
    alerts, dead, rejected = run(lines)

    assert clean_dead == []
    assert dead == [(line, "bad_time") for line in bad_lines]
    assert rejected == Counter({"bad_time": len(BAD_TIMES)})
    assert clean_alerts, "the drift raises alerts"
    assert [a.model_dump(mode="json") for a in alerts] == [
        a.model_dump(mode="json") for a in clean_alerts
    ]
