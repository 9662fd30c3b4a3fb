"""``make bench-formats``: decode throughput of Avro and Protobuf records against JSON.

The same events (the bench workload's stream: 20 numeric and 5 categorical features, two
segment dimensions, a prediction) are encoded as JSON text, as Avro and as Protobuf in the
Confluent wire format, and decoded by :class:`detector.events.Decoder` with the bench config,
in batches of ``run.batch_size``, schemas from local files (no registry round trips: schemas are
cached after the first record anyway). Binary records are decoded to dicts and re-encoded as
JSON for the JSON path; the "to JSON" column is that first step alone. Each figure is the median
of ``--rounds`` runs. Results go to <cache-dir>/formats.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

from bench.workload import stream  # noqa: E402
from detector.config import parse_config  # noqa: E402
from detector.events import Decoder  # noqa: E402
from detector.testing.formats import (  # noqa: E402
    avro_records,
    proto_records,
    write_avsc,
    write_descriptor_set,
)
from detector.testing.synthetic import config_dict  # noqa: E402


def _median_rate(n: int, rounds: int, work: Callable[[], object]) -> float:
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return n / statistics.median(seconds)


def measure(n: int, rounds: int, seed: int) -> dict[str, Any]:
    source = stream(seed)
    events = list(source.events(n))
    base = {k: v for k, v in config_dict(source, model="bench").items() if k != "topics"}
    base["prediction"] = {"path": "prediction.score", "type": "numeric"}
    size = parse_config(base).run.batch_size
    records = {
        "json": [orjson.dumps(e) for e in events],
        "avro": avro_records(source, events),
        "protobuf": proto_records(source, events),
    }
    out: dict[str, Any] = {"events": n, "batch_size": size, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "avro": write_avsc(source, Path(tmp) / "event.avsc"),
            "protobuf": write_descriptor_set(source, Path(tmp) / "events.desc"),
        }
        for name, values in records.items():
            config = dict(base)
            if name != "json":
                config["event"] = {**base["event"], "format": name, "schema_file": str(files[name])}
            decoder = Decoder(parse_config(config))
            batches = [values[i : i + size] for i in range(0, n, size)]
            times = [[0.0] * len(b) for b in batches]

            def decode(
                d: Decoder = decoder,
                bs: list[list[bytes]] = batches,
                ts: list[list[float]] = times,
            ) -> None:
                for batch, t in zip(bs, ts, strict=True):
                    d.decode(batch, t)

            def convert(d: Decoder = decoder, bs: list[list[bytes]] = batches) -> None:
                for batch in bs:
                    d.format.convert(batch)

            result = decoder.decode(values[:size], [0.0] * min(size, n))
            assert not result.rejections, result.rejections[:3]
            out["formats"][name] = {
                "bytes_per_event": sum(map(len, values)) / n,
                "decode_events_per_s": _median_rate(n, rounds, decode),
                "to_json_events_per_s": None
                if name == "json"
                else _median_rate(n, rounds, convert),
            }
    json_rate = out["formats"]["json"]["decode_events_per_s"]
    for figures in out["formats"].values():
        figures["vs_json"] = figures["decode_events_per_s"] / json_rate
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        f"decode of {result['events']:,} events, batches of {result['batch_size']}",
        f"{'format':<10}{'bytes/event':>12}{'events/s':>12}{'vs JSON':>9}{'to JSON/s':>12}",
    ]
    for name, f in result["formats"].items():
        to_json = f["to_json_events_per_s"]
        lines.append(
            f"{name:<10}{f['bytes_per_event']:>12.0f}{f['decode_events_per_s']:>12,.0f}"
            f"{f['vs_json']:>9.2f}{'-' if to_json is None else f'{to_json:,.0f}':>12}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench")
    args = parser.parse_args(argv)
    result = measure(args.events, args.rounds, args.seed)
    print(table(result))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    (args.cache_dir / "formats.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
