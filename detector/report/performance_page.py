"""The performance section of the HTML page (from the report dict's ``performance``)."""

from __future__ import annotations

from html import escape
from typing import Any

from detector.report.charts import series_chart

SHOWN = (
    "count",
    "error_rate",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "ece",
    "mae",
    "rmse",
    "roc_auc",
)


def fmt_metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if name == "count":
        return f"{int(value):,}"
    return f"{value:.4f}"


def _names(segment: dict[str, Any]) -> list[str]:
    present = set(segment["total"]) | set(segment["latest"])
    for w in segment["windows"]:
        present |= set(w["metrics"])
    if segment.get("estimate"):
        present |= set(segment["estimate"]["latest"])
    return [n for n in SHOWN if n in present] + sorted(present - set(SHOWN))


def _metrics_table(segment: dict[str, Any], names: list[str]) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in ["", *names])
    rows = []
    shown = [("all pairs so far", segment["total"]), ("latest window", segment["latest"])]
    estimate = segment.get("estimate")
    if estimate:  # the estimate next to the realised metrics of the same names
        shown.append((f"estimated ({estimate['method']}), latest window", estimate["latest"]))
    for label, values in shown:
        cells = "".join(f"<td class='n'>{fmt_metric(n, values.get(n))}</td>" for n in names)
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table class='metrics'><tr>{head}</tr>{''.join(rows)}</table>"


def _windows_table(segment: dict[str, Any], names: list[str], what: str = "closed windows") -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in ["window ending at", *names])
    rows = []
    for w in segment["windows"][::-1]:
        cells = "".join(f"<td class='n'>{fmt_metric(n, w['metrics'].get(n))}</td>" for n in names)
        rows.append(f"<tr><td>{escape(w['time'])}</td>{cells}</tr>")
    return (
        f"<details><summary>{len(segment['windows'])} {escape(what)}</summary>"
        f"<table class='windows'><tr>{head}</tr>{''.join(rows)}</table></details>"
    )


def _segment(segment: dict[str, Any]) -> str:
    names = _names(segment)
    firing = segment["firing"]
    status = (
        "<span class='firing status'>firing: "
        + "; ".join(f"{escape(k)} since {escape(v['since'])}" for k, v in firing.items())
        + "</span>"
        if firing
        else "<span class='status'>no performance alert firing</span>"
    )
    times = [w["time"] for w in segment["windows"]]
    errors = [w["metrics"].get("error_rate") for w in segment["windows"]]
    chart = series_chart(times, errors, y_title="error rate", log=False, css="metric")
    css = "over" if firing else "calm"
    return (
        f"<details class='card {css}' id='{segment['id']}' data-name='performance "
        f"{escape(segment['segment'])}' open><summary><b>performance · "
        f"{escape(segment['segment'])}</b> · {segment['pairs']:,} labelled predictions · "
        f"{status}</summary><div class='charts'>{chart}</div>"
        f"{_metrics_table(segment, names)}{_windows_table(segment, names)}"
        f"{_estimate_windows(segment)}</details>"
    )


def _estimate_windows(segment: dict[str, Any]) -> str:
    estimate = segment.get("estimate")
    if not estimate:
        return ""
    present: set[str] = set()
    for w in estimate["windows"]:
        present |= set(w["metrics"])
    names = [n for n in SHOWN if n in present] + sorted(present - set(SHOWN))
    what = f"estimate windows ({estimate['method']}, {estimate['predictions']:,} predictions)"
    return _windows_table(estimate, names, what)


def performance_html(perf: dict[str, Any]) -> str:
    join = perf["join"]
    facts = " · ".join(f"{escape(k.replace('_', ' '))} {v:,}" for k, v in join.items())
    window = (
        f"{perf['window_seconds']:g} s" if perf["window_seconds"] else f"{perf['window']:,} pairs"
    )
    return (
        f"<h2>Model performance</h2><div class='muted'>Realised metrics from delayed labels "
        f"({escape(str(perf['label_type']))} labels, windows of {window}), and estimated ones "
        f"from predictions before labels where a calibration allows (cbpe, dle). "
        f"Join: {facts}.</div>" + "".join(_segment(s) for s in perf["segments"])
    )
