"""The YAML configuration: one file per monitored model.

The file is parsed with PyYAML, ``${VAR}`` / ``${VAR:-default}`` are interpolated from the
environment in string values (never in keys, so the structure cannot be injected; ``$$`` is a
literal ``$``, and a malformed reference such as ``${VAR`` or ``$VAR`` is an error), and the result
is validated by pydantic. Unknown keys are errors: a typo must not silently disable a detector.
Every error message names the field, e.g. ``features.1.type: Input should be 'numeric' or
'categorical'``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detector.detectors.plugins import Plugin, river_detector
from detector.errors import ConfigError

FieldType = Literal["numeric", "categorical"]
CONFIDENCE = "prediction_confidence"  # the decoded name of prediction.confidence
PROBABILITY = "prediction_probability_"  # + class number: decoded prediction.probabilities
_NAME = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
_PATH = Annotated[str, Field(min_length=1, pattern=r"^[^.]+(\.[^.]+)*$")]
# One token of a string value: `$$` (a literal $), a well-formed ${VAR} / ${VAR:-default} (the
# default may hold `$$`, nothing else with a $), or any other `$`, which _malformed() judges.
_VAR = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>(?:[^$}]|\$\$)*))?\}|\$"
)
_IDENT = re.compile(r"[A-Za-z0-9_]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicsConfig(_Strict):
    """Where events are read from and where alerts and rejected records are written."""

    events: str = Field(min_length=1, description="Topic of model inference events (input).")
    alerts: str = Field(min_length=1, description="Topic the alert CloudEvents are produced to.")
    dead_letter: str = Field(min_length=1, description="Topic for undecodable or invalid events.")
    create_missing: bool = Field(
        True, description="Create the alerts and dead-letter topics at start if they are missing."
    )
    labels: str | None = Field(
        None,
        description="Topic of ground-truth label records (optional): any keys, any partition "
        "count (events and labels meet at the worker that owns the performance unit).",
    )
    repartition: str | None = Field(
        None,
        description="Internal topic that routes each series to the one worker owning it; "
        "default: <group.id>-repartition. Created at start.",
    )
    changelog: str | None = Field(
        None,
        description="Internal compacted topic of per-series state snapshots; default: "
        "<group.id>-changelog. Created at start.",
    )


InputFormat = Literal["json", "avro", "protobuf"]


class _FormatFields(_Strict):
    """How a record's bytes are decoded (docs/formats.md)."""

    format: InputFormat = Field(
        "json",
        description="json (text), avro or protobuf (Confluent wire format, schemas from "
        "schema_registry or schema_file).",
    )
    schema_file: str | None = Field(
        None,
        min_length=1,
        description="avro: an .avsc file; protobuf: a descriptor set (protoc "
        "--include_imports --descriptor_set_out). Used for every record instead of the "
        "registry; relative to the config file.",
    )
    protobuf_message: str | None = Field(
        None,
        min_length=1,
        description="protobuf with schema_file: the message's full name; default: the first "
        "message of the last file in the set.",
    )
    framing: Literal["confluent", "none"] = Field(
        "confluent",
        description="confluent: magic byte, schema id (and message indexes) before the "
        "payload; none: the bare payload (needs schema_file).",
    )

    def check_format(self, where: str, registry: dict[str, str | int | float | bool]) -> None:
        """Errors naming the field when the format settings do not fit together."""
        if self.format == "json":
            for name in ("schema_file", "protobuf_message"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{where}.{name}: only for format avro or protobuf")
            if self.framing != "confluent":
                raise ValueError(f"{where}.framing: only for format avro or protobuf")
            return
        if self.protobuf_message is not None and self.format != "protobuf":
            raise ValueError(f"{where}.protobuf_message: only for format protobuf")
        if self.schema_file is None:
            if self.framing == "none":
                raise ValueError(f"{where}.framing: none needs {where}.schema_file")
            if self.protobuf_message is not None:
                raise ValueError(
                    f"{where}.protobuf_message: only with {where}.schema_file (a registry "
                    "schema names its message in each record)"
                )
            if "url" not in registry:
                raise ValueError(
                    f"{where}.format: {self.format} needs {where}.schema_file or "
                    "schema_registry.url"
                )


class EventConfig(_FormatFields):
    """How to read the envelope of an inference event."""

    id: _PATH | None = Field(None, description="Dotted path of the event id (optional).")
    time: _PATH | None = Field(
        None,
        description="Dotted path of the event time: RFC 3339 string, epoch seconds or epoch "
        "milliseconds (numbers above 1e11 are read as milliseconds). Without it the Kafka "
        "record timestamp is used (file replay: the line number, as seconds).",
    )
    max_bytes: int = Field(
        1_000_000, gt=0, description="Records larger than this go to the dead-letter topic."
    )


class SegmentSpec(_Strict):
    """A segment dimension: every value gets its own series, besides all traffic."""

    name: _NAME
    path: _PATH
    max_values: int = Field(
        100, gt=0, le=10_000, description="Distinct values tracked; later ones become __other__."
    )
    values: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        max_length=10_000,
        description=(
            "The values that get their own series (and __missing__); any other is __other__. "
            "Default: the first max_values seen, which can differ between workers."
        ),
    )

    @model_validator(mode="after")
    def _distinct_values(self) -> SegmentSpec:
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("values must be distinct")
        if self.values is not None and "__other__" in self.values:
            raise ValueError("__other__ is where unlisted values go, it cannot be listed")
        return self


class FeatureSpec(_Strict):
    """A model input to monitor."""

    name: _NAME
    path: _PATH
    type: FieldType
    bounds: tuple[float, float] | None = Field(
        None, description="Valid range of a numeric feature; default: the reference's range."
    )

    @model_validator(mode="after")
    def _bounds_order(self) -> FeatureSpec:
        if self.bounds is not None and not self.bounds[0] <= self.bounds[1]:
            raise ValueError("bounds must be [low, high] with low <= high")
        return self


class PredictionSpec(_Strict):
    """The model output to monitor; it is watched like a feature named ``prediction``."""

    path: _PATH
    type: FieldType = "numeric"
    threshold: float | None = Field(
        None,
        description="Numeric scores only: the predicted class is 1 when score >= threshold, "
        "else 0. Watched like a categorical feature named predicted_class (the class balance) "
        "and used as the predicted class for binary labels (default 0.5 there).",
    )
    confidence: _PATH | None = Field(
        None,
        description="Categorical predictions only: dotted path of the probability the model "
        "gives its predicted class. Multi-class estimated performance (CBPE) calibrates it; "
        "it is decoded as prediction_confidence but not watched for drift.",
    )
    probabilities: dict[str, _PATH] | None = Field(
        None,
        description="Categorical predictions only: each class -> dotted path of the probability "
        "the model gives it (at least 2 classes). Multi-class estimated performance calibrates "
        "each one and estimates macro precision, recall, F1 and ROC AUC; the predicted class's "
        "probability is its confidence (do not also set prediction.confidence). Decoded as "
        "prediction_probability_<i> but not watched for drift.",
    )

    @field_validator("probabilities", mode="before")
    @classmethod
    def _class_names(cls, value: Any) -> Any:
        """Classes as the decoder reads a categorical value (a YAML key 1 is the class "1")."""
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, path in value.items():
                if isinstance(key, bool):
                    key = "true" if key else "false"
                elif isinstance(key, int | float):
                    key = repr(key)
                out[key] = path
            return out
        return value

    @field_validator("probabilities")
    @classmethod
    def _two_classes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) < 2:
            raise ValueError("needs at least 2 classes (class -> path of its probability)")
        return value

    def classes(self) -> tuple[str, ...]:
        """The classes of ``probabilities``, in config order (empty without it)."""
        return tuple(self.probabilities or ())


LabelType = Literal["binary", "categorical", "numeric"]


class LabelSpec(_FormatFields):
    """Ground truth: where the label sits in a label record and how long to wait for it."""

    path: _PATH = Field(description="Dotted path of the label in a label record.")
    type: LabelType = Field(
        "binary",
        description="binary (0/1, true/false; the prediction is a score or a class), "
        "categorical (multi-class; the prediction is a class) or numeric (regression).",
    )
    id: _PATH | None = Field(
        None, description="Path of the event id in a label record; default: event.id."
    )
    time: _PATH | None = Field(
        None, description="Path of the event time in a label record; default: event.time."
    )
    tolerance: float | None = Field(
        None,
        ge=0,
        description="numeric labels only (required there): an absolute error above this "
        "counts as an error for the error stream and the segment test.",
    )
    max_pending: int = Field(
        1_000_000,
        ge=1,
        description="Predictions and labels waiting for their other half, at most; the one "
        "with the oldest event time is dropped when full.",
    )
    ttl_seconds: float = Field(
        86_400.0,
        gt=0,
        description="Event-time seconds a half waits: it is dropped once the newest event "
        "time seen on either stream is more than this past its own.",
    )


class EstimateConfig(_Strict):
    """Estimated performance before labels arrive (CBPE, DLE): docs/estimated-performance.md."""

    enabled: bool | None = Field(
        None,
        description="Estimate performance from predictions alone. Default (unset): on when the "
        "baseline holds a calibration (labels.calibration) or calibration is identity, else "
        "off; true: a start without a calibration is an error.",
    )
    calibration: Literal["baseline", "identity"] = Field(
        "baseline",
        description="baseline: the isotonic map (classification) or loss table (regression) "
        "the baseline learned from its labelled rows; identity: the scores are calibrated "
        "probabilities already (classification only), and the reference comes from the first "
        "warmup_windows windows of each series.",
    )
    warmup_windows: int = Field(
        5,
        ge=1,
        description="Windows whose per-event estimates make a series' reference when the "
        "baseline has none for it (identity calibration, or a segment value rare in training).",
    )
    min_accuracy_drop: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="Classification: the smallest drop of the estimated accuracy below the "
        "reference that may alert (accuracy points, 0.02 = 2 points), whatever the test says.",
    )
    min_mae_increase: float = Field(
        0.05,
        ge=0,
        description="Regression: the smallest relative rise of the estimated MAE above the "
        "reference that may alert (0.05 = 5%), whatever the test says.",
    )


class PerformanceConfig(_Strict):
    """Windows and the segment test of model performance (needs `label`)."""

    window: int = Field(
        1000, ge=50, description="Labelled events per tumbling window of each segment's metrics."
    )
    window_seconds: float | None = Field(
        None, gt=0, description="Close performance windows by event time instead (seconds)."
    )
    min_labels: int = Field(
        200,
        ge=20,
        description="Labelled events a segment's window and the rest of the traffic need "
        "before the segment is tested against the rest.",
    )
    critical_ratio: float = Field(
        2.0, gt=1, description="An error rate this many times the comparison's is critical."
    )
    estimate: EstimateConfig = Field(
        default_factory=EstimateConfig,
        description="Estimated performance from predictions before labels arrive, per window "
        "of `window` predictions (or window_seconds) and segment.",
    )


SeasonPeriod = Literal["auto", "off", "daily", "weekly"]
_PERIOD_RANGE = (60.0, 366 * 86_400.0)


def _bare_off(schema: dict[str, Any]) -> None:
    """YAML reads a bare ``off`` as false: the schema accepts it too."""
    schema["anyOf"] = [*schema["anyOf"], {"const": False}]


class SeasonConfig(_Strict):
    """Phase-aware references of numeric features (daily or weekly cycles in event time)."""

    period: SeasonPeriod | Annotated[float, Field(ge=_PERIOD_RANGE[0], le=_PERIOD_RANGE[1])] = (
        Field(
            "auto",
            description="auto: detect a daily or weekly cycle in the baseline (it must span "
            "two cycles); daily, weekly or a number of seconds: look for that cycle only; "
            "off: never adjust. Needs event.time.",
            json_schema_extra=_bare_off,
        )
    )

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, value: Any) -> Any:
        if value is False:  # YAML reads a bare `off` as false
            return "off"
        if isinstance(value, str) and value not in ("auto", "off", "daily", "weekly"):
            raise ValueError(f"{value!r}: use auto, off, daily, weekly or a number of seconds")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("use auto, off, daily, weekly or a number of seconds")
        if not isinstance(value, str) and not _PERIOD_RANGE[0] <= value <= _PERIOD_RANGE[1]:
            raise ValueError(f"{value} seconds: a period is 60 s to 366 days")
        return value


class PluginConfig(_Strict):
    """A river drift detector added to numeric features (:mod:`detector.detectors.plugins`)."""

    detector: str = Field(
        description="A class of river.drift (KSWIN, PageHinkley, ...) or river.drift.binary "
        "(binary.DDM, ...); ADWIN and binary.HDDMW hold compiled state and cannot be saved."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Its constructor's arguments (river's names)."
    )
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.\-]{1,100}$",
        description="The alerts' detector field; default river.<class>.",
    )
    features: list[str] | None = Field(
        None, description="Numeric features (or prediction) it watches; default every one."
    )
    input: Literal["score", "value"] = Field(
        "score",
        description="score: the values' normal scores against the reference (what ADWIN and "
        "Page-Hinkley see); value: the values themselves (0/1 flags for the binary ones).",
    )
    stream: Literal["features", "errors"] = Field(
        "features",
        description="features: numeric features' values; errors: the labels' error stream "
        "(1 = a wrong prediction, per segment; needs a label section), next to ADWIN there.",
    )

    @model_validator(mode="after")
    def _builds(self) -> PluginConfig:
        detector = river_detector(self.detector, self.params)  # ValueError names the class
        try:
            Plugin(detector, self.label)  # its state must be plain data (snapshots)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def label(self) -> str:
        return self.name or f"river.{self.detector.removeprefix('binary.')}"


class JointConfig(_Strict):
    """Multivariate drift: the correlations between numeric fields, per model and segment."""

    enabled: bool = Field(
        False,
        description="Test, each window, whether the correlations of the numeric fields' normal "
        "scores moved from the reference's (drift the marginals cannot see); adds one test per "
        "window and segment to the false-alarm budget.",
    )
    features: list[str] | None = Field(
        None,
        description="Numeric features (or prediction) whose pairs are tested; default every "
        "numeric one (at least two).",
    )
    top_pairs: int = Field(
        3, ge=1, le=20, description="Pairs named in an alert: those that moved most."
    )


class DetectionConfig(_Strict):
    """Detector settings. The defaults suit any feature scale (inputs are standardised)."""

    warmup: int = Field(
        1000, ge=50, description="Events of each series that form its reference before testing."
    )
    adwin_delta: float = Field(
        1e-5, gt=0, lt=1, description="ADWIN confidence; smaller = fewer false alarms, slower."
    )
    ph_delta: float = Field(
        0.25, gt=0, description="Page-Hinkley slack in reference sd: half the smallest shift."
    )
    ph_threshold: float = Field(
        50.0, gt=0, description="Page-Hinkley alarm level in reference sd; higher = fewer alarms."
    )
    window: int = Field(
        500, ge=50, description="Events per tumbling window of the window tests and checks."
    )
    window_seconds: float | None = Field(
        None, gt=0, description="Close windows by event time instead (seconds per window)."
    )
    min_window_values: int = Field(
        50, ge=10, description="Fewer values in a window than this skip its distribution tests."
    )
    false_alarms_per_10m_events: float = Field(
        1.0,
        gt=0,
        description="Budget of false alerts per model per 10 million events on stationary data; "
        "the per-window test level is derived from it. Lower = fewer false pages, later alerts.",
    )
    top_categories: int = Field(
        20, ge=1, le=1000, description="Categories tracked per series; the rest pool into other."
    )
    resolve_windows: int = Field(
        3, ge=1, description="Consecutive windows consistent with the reference that resolve."
    )
    critical_shift: float = Field(
        1.0, gt=0, description="Mean shift (reference sd) or share change (x10) that is critical."
    )
    stream_silence_seconds: float | None = Field(
        300.0,
        gt=0,
        description="`run` only: alert when no event arrives for this long (wall clock) after "
        "traffic was seen; null turns it off.",
    )
    season: SeasonConfig = Field(
        SeasonConfig(),
        description="Seasonal (phase-aware) references for numeric features with a baseline.",
    )
    plugins: list[PluginConfig] = Field(
        default_factory=list,
        description="More drift detectors from river on numeric features, next to ADWIN and "
        "Page-Hinkley (same alert lifecycle and state snapshots).",
    )
    joint: JointConfig = Field(
        JointConfig(),
        description="Multivariate drift: pairwise correlations of the numeric fields.",
    )


class RunConfig(_Strict):
    """Micro-batching and parallelism of the engine (``run`` and ``replay``)."""

    batch_size: int = Field(10_000, ge=1, le=100_000, description="Max records per micro-batch.")
    batch_timeout: float = Field(0.2, gt=0, le=30, description="Max seconds to fill a batch.")
    threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Threads that update a batch's series in parallel (their per-value work "
        "runs in Rust without the GIL); default: the machine's CPU count, at most 8.",
    )

    def series_threads(self) -> int:
        return self.threads or min(os.cpu_count() or 1, 8)


class ProcessingConfig(_Strict):
    """Delivery guarantee, state snapshots and the internal topics of ``run``."""

    guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once: alerts, state snapshots and consumer offsets are committed "
        "in one Kafka transaction (readers use isolation.level=read_committed).",
    )
    partitions: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Partitions of the repartition and changelog topics (the most workers "
        "that share the detection work); default: the events topic's partition count.",
    )
    replication_factor: int = Field(
        -1, description="Replication factor of the internal topics; -1: the broker's default."
    )
    commit_interval: float | None = Field(
        None,
        gt=0,
        le=300,
        description="Seconds between commits: state snapshots plus offsets (and, exactly-once, "
        "the transaction, so it bounds how late read_committed readers see alerts); default "
        "5 at-least-once (a crash replays at most that), 1 exactly-once.",
    )
    idle_wait: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="Seconds rows wait for an input partition that is at its end (no record "
        "to fetch) before going on without it, as Kafka Streams' max.task.idle.ms: 0 never "
        "waits; more keeps the event-time order when producers write partitions unevenly.",
    )
    lag_wait: float | None = Field(
        120.0,
        gt=0,
        description="Seconds rows wait for an input partition whose records are not read yet "
        "(its worker catching up, restarting or rebalancing) before going on without it "
        "(enforced processing, counted and logged); null: wait as long as it takes.",
    )

    @property
    def commit_seconds(self) -> float:
        if self.commit_interval is not None:
            return self.commit_interval
        return 1.0 if self.guarantee == "exactly_once" else 5.0


class MetricsConfig(_Strict):
    """The HTTP endpoint of ``run``: Prometheus ``/metrics``, ``/healthz`` and ``/readyz``."""

    enabled: bool = Field(True, description="Serve metrics and health endpoints during run.")
    host: str = Field(
        "127.0.0.1", min_length=1, description="Address to bind; 0.0.0.0 in a container."
    )
    port: int = Field(9464, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    series_cap: int = Field(
        1000, ge=0, le=100_000, description="Series exported with per-series metrics at most."
    )
    liveness_timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds without a poll after which /healthz fails; default: the "
        "consumer's max.poll.interval.ms (300 s).",
    )


class Config(_Strict):
    """A whole configuration file."""

    model: _NAME
    kafka: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="librdkafka properties, passed through unchanged."
    )
    topics: TopicsConfig | None = Field(
        None,
        description="Kafka topics: required by `run`; optional for `replay`, `baseline`, "
        "`report` and the Python API.",
    )
    event: EventConfig = EventConfig()
    schema_registry: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Schema Registry client settings for avro and protobuf records: url, "
        "and e.g. basic.auth.user.info (a secret); passed to confluent-kafka's client.",
    )
    segments: list[SegmentSpec] = Field(default_factory=list)
    features: list[FeatureSpec] = Field(min_length=1)
    prediction: PredictionSpec | None = None
    baseline: str | None = Field(
        None, description="Baseline file from `drift-detector baseline`; default: warm-up."
    )
    detection: DetectionConfig = DetectionConfig()
    run: RunConfig = RunConfig()
    processing: ProcessingConfig = ProcessingConfig()
    metrics: MetricsConfig = MetricsConfig()
    label: LabelSpec | None = None
    performance: PerformanceConfig = PerformanceConfig()

    @field_validator("kafka")
    @classmethod
    def _kafka_keys(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        for key in value:
            if not re.fullmatch(r"[a-z0-9_.]+", key):
                raise ValueError(f"{key!r} is not a librdkafka property name")
        return value

    @field_validator("schema_registry")
    @classmethod
    def _registry_keys(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        if value and "url" not in value:
            raise ValueError("url is required (the registry's address)")
        return value

    @model_validator(mode="after")
    def _formats(self) -> Config:
        self.event.check_format("event", self.schema_registry)
        if self.label is not None:
            self.label.check_format("label", self.schema_registry)
        return self

    @model_validator(mode="after")
    def _transactions(self) -> Config:
        if "transactional.id" in self.kafka and self.processing.guarantee != "exactly_once":
            raise ValueError(
                "kafka.transactional.id needs processing.guarantee: exactly_once (a "
                "transactional producer outside transactions cannot produce)"
            )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [f.name for f in self.decoded_fields()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique (prediction counts as one): {dupes}")
        seg = [s.name for s in self.segments]
        if len(set(seg)) != len(seg):
            raise ValueError("segment names must be unique")
        return self

    @model_validator(mode="after")
    def _season(self) -> Config:
        period = self.detection.season.period
        if period not in ("auto", "off") and self.event.time is None:
            raise ValueError(
                "detection.season.period needs event.time: cycles are read from event time "
                "(auto skips seasonality without it)"
            )
        return self

    @model_validator(mode="after")
    def _plugins(self) -> Config:
        numeric = {f.name for f in self.monitored_fields() if f.type == "numeric"}
        names: set[str] = set()
        for i, plugin in enumerate(self.detection.plugins):
            if plugin.stream == "errors" and self.label is None:
                raise ValueError(f"detection.plugins.{i}.stream: errors needs a label section")
            unknown = sorted(set(plugin.features or ()) - numeric)
            if unknown:
                raise ValueError(
                    f"detection.plugins.{i}.features: {unknown} are not numeric features "
                    f"(numeric: {sorted(numeric)})"
                )
            if plugin.label in names or plugin.label in ("adwin", "page_hinkley", "plugin"):
                raise ValueError(f"detection.plugins.{i}.name: {plugin.label!r} is taken")
            names.add(plugin.label)
        return self

    @model_validator(mode="after")
    def _joint(self) -> Config:
        joint = self.detection.joint
        if not joint.enabled:
            return self
        numeric = [f.name for f in self.monitored_fields() if f.type == "numeric"]
        unknown = sorted(set(joint.features or ()) - set(numeric))
        if unknown:
            raise ValueError(
                f"detection.joint.features: {unknown} are not numeric features (numeric: {numeric})"
            )
        if len(self.joint_fields()) < 2:
            raise ValueError(
                "detection.joint.features: the joint test needs at least two numeric fields"
            )
        return self

    @model_validator(mode="after")
    def _labels(self) -> Config:
        prediction, label = self.prediction, self.label
        if prediction is not None and prediction.threshold is not None:
            if prediction.type != "numeric":
                raise ValueError("prediction.threshold needs a numeric prediction (a score)")
            if "predicted_class" in {f.name for f in self.features}:
                raise ValueError("prediction.threshold adds predicted_class: rename that feature")
        topics = self.topics
        if topics is not None and topics.labels is not None and label is None:
            raise ValueError("topics.labels needs a label section (label.path)")
        if label is None:
            return self
        if topics is not None and topics.labels is not None and topics.labels == topics.events:
            raise ValueError("topics.labels must differ from topics.events")
        if prediction is None:
            raise ValueError("label needs prediction (the model output to compare with)")
        if self.event.id is None:
            raise ValueError("label needs event.id: predictions and labels join on it")
        if self.event.time is None:
            raise ValueError("label needs event.time: waiting and windows use event time")
        if label.type == "numeric" and (prediction.type != "numeric" or label.tolerance is None):
            raise ValueError("numeric labels need a numeric prediction and label.tolerance")
        if label.type == "categorical" and prediction.type != "categorical":
            raise ValueError("categorical labels need a categorical prediction (the class)")
        if prediction.confidence is not None and label.type != "categorical":
            raise ValueError("prediction.confidence needs categorical labels and prediction")
        if prediction.probabilities is not None:
            if label.type != "categorical":
                raise ValueError("prediction.probabilities needs categorical labels and prediction")
            if prediction.confidence is not None:
                raise ValueError(
                    "prediction.probabilities and prediction.confidence: give one (with "
                    "probabilities, the confidence is the predicted class's probability)"
                )
        estimate = self.performance.estimate
        if estimate.calibration == "identity" and label.type == "numeric":
            raise ValueError(
                "performance.estimate.calibration: identity needs probabilities; regression "
                "(DLE) needs the baseline's loss table"
            )
        if estimate.enabled and not _scored(prediction, label):
            raise ValueError(
                "performance.estimate.enabled: needs a score (binary labels with a numeric "
                "prediction), prediction.confidence or prediction.probabilities (categorical) "
                "or a numeric prediction"
            )
        return self

    @property
    def kafka_topics(self) -> TopicsConfig:
        """The ``topics`` section, which ``run`` needs; a :class:`ConfigError` naming the field
        when the config has none (``replay``, ``report`` and the Python API do without)."""
        if self.topics is None:
            raise ConfigError(
                "topics: Field required by `run` (topics.events, topics.alerts and "
                "topics.dead_letter name the Kafka topics)"
            )
        return self.topics

    def monitored_fields(self) -> list[FeatureSpec]:
        """Features plus the prediction (as a feature named ``prediction``), in config order."""
        fields = list(self.features)
        if self.prediction is not None:
            fields.append(
                FeatureSpec(name="prediction", path=self.prediction.path, type=self.prediction.type)
            )
        return fields

    def joint_fields(self) -> list[str]:
        """The numeric fields of the joint (multivariate) test, in config order; [] when off."""
        joint = self.detection.joint
        if not joint.enabled:
            return []
        numeric = [f.name for f in self.monitored_fields() if f.type == "numeric"]
        wanted = set(numeric if joint.features is None else joint.features)
        return [n for n in numeric if n in wanted]

    def decoded_fields(self) -> list[FeatureSpec]:
        """What decoders read: the monitored fields, plus the predicted class's confidence
        (``prediction.confidence``, named ``prediction_confidence``) or each class's
        probability (``prediction.probabilities``, ``prediction_probability_<i>`` in config
        order); no series watches them."""
        fields = self.monitored_fields()
        if self.prediction is not None and self.prediction.confidence is not None:
            path = self.prediction.confidence
            fields.append(FeatureSpec(name=CONFIDENCE, path=path, type="numeric"))
        if self.prediction is not None and self.prediction.probabilities is not None:
            for i, path in enumerate(self.prediction.probabilities.values()):
                fields.append(FeatureSpec(name=f"{PROBABILITY}{i}", path=path, type="numeric"))
        return fields

    def derived_fields(self) -> list[FeatureSpec]:
        """Fields computed from others rather than read: ``predicted_class`` (a thresholded
        score). Decoders do not read them; the engine and the baseline builder derive them."""
        if self.prediction is None or self.prediction.threshold is None:
            return []
        path = self.prediction.path
        return [FeatureSpec(name="predicted_class", path=path, type="categorical")]


def _scored(prediction: PredictionSpec, label: LabelSpec) -> bool:
    """Whether each event carries what the performance estimate needs."""
    if label.type == "binary":
        return prediction.type == "numeric"
    if label.type == "categorical":
        return prediction.confidence is not None or prediction.probabilities is not None
    return True


def _malformed(text: str, at: int) -> tuple[str, str] | None:
    """The reference starting with the ``$`` at ``at`` as shown in an error (its name, never a
    default or the rest of the value) and what is wrong with it; None for a ``$`` that starts no
    reference (``5$``, ``$1``: kept as text)."""
    rest = text[at + 1 :]
    if not rest.startswith("{"):
        name = _IDENT.match(rest)
        word = name.group() if name else ""
        if word and not word[0].isdigit():
            return f"${word}", f"write ${{{word}}} (or $$ for a literal $)"
        return None
    name = _IDENT.match(rest, 1)
    word = name.group() if name else ""
    after = rest[1 + len(word) :]
    shown = "${" + word
    if after.startswith("}") and not word:
        return "${}", "empty variable name"
    if "}" not in after:
        return shown + ("…" if after else ""), "no closing }"
    if after.startswith(":-"):
        return shown + ":-…}", "a default cannot contain $ (write $$ for a literal $)"
    shown += "}" if after.startswith("}") else after[0] + "…}"
    if word[:1].isdigit() or not word:
        return shown, "a variable name starts with a letter or _"
    return shown, "use ${VAR} or ${VAR:-default}"


def interpolate(value: Any, where: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree; ``$$``
    is a literal ``$``. A malformed reference (``${VAR``, ``$VAR``, ``${}``) is a ConfigError
    naming the field and showing the reference (not the value), as is an unset variable without
    a default: left as text, it would fail much later, e.g. as a broker address.

    >>> os.environ["DD_DOCTEST_HOST"] = "broker:9092"
    >>> interpolate({"a": ["${DD_DOCTEST_HOST}", "${DD_DOCTEST_UNSET:-x:1}", "5$$"]})
    {'a': ['broker:9092', 'x:1', '5$']}
    >>> interpolate({"kafka": {"sasl.password": "$DD_PASSWORD"}})
    Traceback (most recent call last):
    ...
    detector.errors.ConfigError: kafka.sasl.password: malformed reference $DD_PASSWORD: write \
${DD_PASSWORD} (or $$ for a literal $)
    """
    if isinstance(value, dict):
        return {k: interpolate(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        token, name, default = match.group(), match.group("name"), match.group("default")
        if token == "$$":
            return "$"
        if name is None:  # a `$` outside a well-formed reference
            bad = _malformed(value, match.start())
            if bad is None:
                return token
            raise ConfigError(f"{where or '(top level)'}: malformed reference {bad[0]}: {bad[1]}")
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default.replace("$$", "$")
        raise ConfigError(f"{where}: environment variable {name} is not set and has no default")

    return _VAR.sub(substitute, value)


REDACTED = "<redacted>"
# Names of credentials: librdkafka's sasl.password, sasl.oauthbearer.client.secret,
# ssl.key.password, ssl.key.pem, sasl.oauthbearer.config, a Schema Registry's
# basic.auth.user.info, PagerDuty's routing_key, an api_key or a token. Paths to files holding
# them (ssl.key.location) and token endpoint URLs are not secrets.
_SECRET_NAME = re.compile(
    r"passw(or)?d|passphrase|secret|token|credential|user[._-]?info|jaas|oauthbearer\.config"
    r"|(^|[._-])(api|access|private|routing|signing|integration|client|auth|ssl|sasl)[._-]?key"
    r"($|[._-])|(^|[._-])key\.pem$|(^|[._-])authorization$",
    re.IGNORECASE,
)
_NOT_SECRET_NAME = re.compile(r"([._-](location|file|url|endpoint|path)|\.ms)$", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*):[^/@\s]*@")


def secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a credential (its value is never printed).

    >>> [secret_name(n) for n in ("sasl.password", "ssl.key.password", "routing_key",
    ...  "sasl.oauthbearer.client.secret", "basic.auth.user.info", "ssl.key.pem")]
    [True, True, True, True, True, True]
    >>> [secret_name(n) for n in ("bootstrap.servers", "ssl.key.location", "group.id",
    ...  "sasl.oauthbearer.token.endpoint.url", "partitioner", "sasl.username")]
    [False, False, False, False, False, False]
    """
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def redact(value: Any) -> Any:
    """A config tree (``model_dump()`` of a detector or router config) fit for printing: the
    value of every credential is replaced by ``<redacted>``. Credentials are settings named
    like one (:func:`secret_name`), every value of a ``headers`` mapping (webhook
    Authorization), the ``url`` of a Slack sink (the URL is the credential) and the password of
    any ``scheme://user:password@host`` URL.

    >>> redact({"kafka": {"sasl.password": "hunter2", "bootstrap.servers": "b:9092"},
    ...         "sinks": {"s": {"type": "slack", "url": "https://hooks.slack.com/T/B/x"},
    ...                   "w": {"type": "webhook", "url": "https://u:pw@h/x",
    ...                         "headers": {"Authorization": "Bearer t"}}}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'kafka': {'sasl.password': '<redacted>', 'bootstrap.servers': 'b:9092'},
     'sinks': {'s': {'type': 'slack', 'url': '<redacted>'},
               'w': {'type': 'webhook', 'url': 'https://u:<redacted>@h/x',
                     'headers': {'Authorization': '<redacted>'}}}}
    """
    if isinstance(value, dict):
        slack = value.get("type") == "slack"
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if str(key) == "headers" and isinstance(item, dict):
                out[key] = {h: _hidden(v) for h, v in item.items()}
            elif secret_name(str(key)) or (slack and key == "url"):
                out[key] = _hidden(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
    return value


def _hidden(value: Any) -> Any:
    """``<redacted>`` for a set value; None and "" stay (they reveal nothing)."""
    if value is None or value == "":
        return value
    if isinstance(value, dict):
        return {k: _hidden(v) for k, v in value.items()}
    return REDACTED


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Validate an already-parsed YAML tree (after interpolation) into a :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(interpolate(data))
    except ValidationError as exc:
        raise ConfigError(f"invalid config {source}:\n{_format_errors(exc)}") from exc


def read_yaml(path: Path) -> Any:
    """A YAML file's parsed content; unreadable or malformed files are ConfigErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc


def load_config(path: str | Path) -> Config:
    """Read, interpolate and validate a YAML config file."""
    path = Path(path)
    config = parse_config(read_yaml(path), str(path))
    if config.baseline and not Path(config.baseline).is_absolute():
        # A relative baseline path is relative to the config file, not to the working directory.
        config = config.model_copy(update={"baseline": str(path.parent / config.baseline)})
    # Schema files too are relative to the config file.
    for section in ("event", "label"):
        spec = getattr(config, section)
        if spec is not None and spec.schema_file and not Path(spec.schema_file).is_absolute():
            moved = spec.model_copy(update={"schema_file": str(path.parent / spec.schema_file)})
            config = config.model_copy(update={section: moved})
    return config
