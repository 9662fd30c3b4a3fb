"""The engine's two stages: chunks of many batches applied at once, or slices sent through
repartition records to the partitions that own their units, give the same alerts as processing
batch by batch."""

from __future__ import annotations

import pytest

from detector.alerts import alert_bytes
from detector.chunks import Chunk, chunk_unit, unit_partition
from detector.config import parse_config
from detector.engine import Engine
from detector.events import EventBatch
from detector.kafka.internal import read_slice, slice_records
from detector.split import Splitter
from detector.testing.synthetic import Drift, SyntheticStream, config_dict, event_batches

STREAM = SyntheticStream(
    numeric=["amount", "latency"],
    categorical={"mcc": {"a": 0.3, "b": 0.7}},
    segments={"country": ["DE", "FR", "US"]},
    seed=4,
)
DRIFTS = [Drift("amount", 6000, 1.0, ("country", "DE")), Drift("latency", 9000, 2.0)]


@pytest.mark.parametrize("partitions", [1, 3, 12])
def test_slices_through_repartition_records_and_their_owners(partitions: int) -> None:
    """Slices encoded as repartition records for each partition and cut by the engine owning
    it (only its units) fire the same alerts as one engine; with one partition, in the same
    order. Every unit is applied exactly once."""
    config = parse_config(config_dict(STREAM))
    reference = Engine(config)
    expected = [
        alert_bytes(a) for b in event_batches(STREAM, 12_000, DRIFTS) for a in reference.process(b)
    ]
    splitter, owners = Splitter(config), [Engine(config) for _ in range(partitions)]
    got: list[bytes] = []
    for batch in event_batches(STREAM, 12_000, DRIFTS):
        units: list[object] = []
        for partition, value in slice_records(config, splitter.slice(batch), partitions).items():
            part = read_slice(value)
            chunks = owners[partition].splitter.chunks(
                part, lambda key, p=partition: unit_partition(key, partitions) == p
            )
            units += [chunk_unit(c) for c in chunks]
            got += [alert_bytes(a) for a in owners[partition].applier.apply(chunks)]
        assert sorted(map(str, units)) == sorted(str(chunk_unit(c)) for c in reference.split(batch))
    assert len(expected) >= 2
    assert got == expected if partitions == 1 else sorted(got) == sorted(expected)


def test_labelled_slices_through_repartition_records_give_the_same_alerts() -> None:
    """Events and labels sliced per repartition partition, encoded, decoded, merged there
    and applied by each partition's owner fire what one engine fires on the merged stream."""
    from detector.feed import Feed
    from detector.merge import OrderedMerge
    from detector.order import LABEL_SOURCES
    from detector.testing.labelled import ErrorChange, LabelledStream

    stream = LabelledStream(seed=3, label_block=10.0)
    config = parse_config(stream.config())
    partitions = 3
    whole = Feed(Engine(config), [0, LABEL_SOURCES])
    splitter = Feed(Engine(config), [0, LABEL_SOURCES])
    owners = [Engine(config) for _ in range(partitions)]
    merges = [OrderedMerge([0, LABEL_SOURCES]) for _ in range(partitions)]
    expected: list[bytes] = []
    got: list[bytes] = []

    def apply(partition: int) -> None:
        for part in merges[partition].release():
            chunks = owners[partition].splitter.chunks(
                part, lambda key: unit_partition(key, partitions) == partition
            )
            got.extend(alert_bytes(a) for a in owners[partition].applier.apply(chunks))

    for _side, batch in stream.batches(30_000, [ErrorChange(15_000, 0.2)]):
        if isinstance(batch, EventBatch):
            expected += [alert_bytes(a) for a in whole.events(batch)]
            keys = splitter.keys(0, batch.times)
            part = splitter.engine.splitter.slice(batch, keys)
        else:
            expected += [alert_bytes(a) for a in whole.labels(batch)]
            keys = splitter.keys(LABEL_SOURCES, batch.times)
            part = splitter.engine.splitter.label_slice(batch, keys)
        for partition, value in slice_records(config, part, partitions).items():
            merges[partition].push(read_slice(value))
            apply(partition)
    for source in (0, LABEL_SOURCES):
        expected += [alert_bytes(a) for a in whole.end(source)]
        for partition in range(partitions):
            merges[partition].end(source)
    for partition in range(partitions):
        apply(partition)
    assert len(expected) >= 2 and sorted(got) == sorted(expected)


def test_several_chunks_of_a_unit_in_one_apply_run_in_order() -> None:
    """Chunks of several batches applied in one call, not merged (a unit appears in each),
    give the batch-by-batch alerts: a unit's chunks run one after the other."""
    config = parse_config(config_dict(STREAM))
    reference = Engine(config)
    batches = list(event_batches(STREAM, 12_000, DRIFTS, 1500))
    expected = [alert_bytes(a) for b in batches for a in reference.process(b)]
    together = Engine(config)
    chunks: list[Chunk] = [c for b in batches for c in together.split(b)]
    assert len(expected) >= 2
    assert sorted(alert_bytes(a) for a in together.applier.apply(chunks)) == sorted(expected)
