"""The engine's two stages: chunks merged per unit, or sent through the state codec, give the
same alerts as processing batch by batch."""

from __future__ import annotations

from detector.alerts import alert_bytes
from detector.chunks import Chunk, merge_chunks, unit_partition
from detector.config import parse_config
from detector.engine import Engine
from detector.kafka.internal import chunk_records, read_chunks
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

STREAM = SyntheticStream(
    numeric=["amount", "latency"],
    categorical={"mcc": {"a": 0.3, "b": 0.7}},
    segments={"country": ["DE", "FR", "US"]},
    seed=4,
)
DRIFTS = [Drift("amount", 6000, 1.0, ("country", "DE")), Drift("latency", 9000, 2.0)]


def test_merged_chunks_give_the_batch_by_batch_alerts() -> None:
    """Splitting every batch, merging all chunks per unit and applying them once fires the same
    alerts, in the same order, as processing the batches one at a time."""
    config = parse_config(config_dict(STREAM))
    reference = Engine(config)
    expected = [
        alert_bytes(a)
        for b in event_batches(STREAM, 12_000, DRIFTS, 1500)
        for a in reference.process(b)
    ]
    merged = Engine(config)
    chunks: list[Chunk] = []
    for batch in event_batches(STREAM, 12_000, DRIFTS, 1500):
        chunks += merged.split(batch)
    got = [alert_bytes(a) for a in merged.apply(merge_chunks(chunks))]
    assert len(expected) >= 2 and got == expected


def test_chunks_through_repartition_records_and_three_owners() -> None:
    """Chunks encoded as repartition records for 3 partitions and applied by 3 engines (each
    owning one partition) fire the same set of alerts as one engine."""
    config = parse_config(config_dict(STREAM))
    reference = Engine(config)
    expected = {
        alert_bytes(a) for b in event_batches(STREAM, 12_000, DRIFTS) for a in reference.process(b)
    }
    splitter, owners = Engine(config), [Engine(config) for _ in range(3)]
    got: set[bytes] = set()
    for batch in event_batches(STREAM, 12_000, DRIFTS):
        for partition, value in chunk_records(splitter.split(batch), 3).items():
            chunks = read_chunks(value)
            assert all(unit_partition(c.key, 3) == partition for c in chunks if hasattr(c, "key"))
            got |= {alert_bytes(a) for a in owners[partition].apply(chunks)}
    assert len(expected) >= 2 and got == expected


def test_labelled_runs_cut_into_slices_give_the_same_alerts() -> None:
    """Merged event and label runs split in slices of 700 rows (as the worker sends them) fire
    what splitting each release at once fires."""
    from detector.kafka.ingest import slice_runs
    from detector.labels.merge import Merger
    from detector.testing.labelled import ErrorChange, LabelledStream

    stream = LabelledStream(seed=3, label_block=10.0)
    config = parse_config(stream.config())
    whole, sliced = Engine(config), Engine(config)
    merger: Merger[int] = Merger()
    expected: list[bytes] = []
    got: list[bytes] = []
    for side, batch in stream.batches(30_000, [ErrorChange(15_000, 0.2)]):
        merger.push(side, batch, list(range(batch.size)))
        runs = [(s, b) for s, b, _ in merger.release(ended=(False, False))]
        if not runs:
            continue
        expected += [alert_bytes(a) for a in whole.process_runs(runs)]
        for part in slice_runs(runs, 700):
            got += [alert_bytes(a) for a in sliced.apply(sliced.split_runs(part))]
    assert len(expected) >= 2 and got == expected
