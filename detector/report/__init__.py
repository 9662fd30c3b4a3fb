"""The drift report: one dict of content (:func:`build`), rendered as a self-contained HTML page
(:func:`render`) or written as JSON (:func:`to_json`), so the two never disagree.

``drift-detector report`` writes it from a file replay (``--labels`` adds realised model
performance, ``--json`` the JSON); a running worker serves the page live at ``/report``;
:meth:`detector.api.Monitor.report` returns a :class:`Report` with both. Series are ranked
by their alarm ratio (:mod:`detector.report.data`); docs/report.md describes the page and the
JSON schema (:data:`detector.report.schema.SCHEMA`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from detector.engine import Engine
from detector.report.data import build
from detector.report.page import render_page

__all__ = ["Report", "build", "render", "render_page", "report_of", "to_json"]


@dataclass(frozen=True)
class Report:
    """The drift report of ``drift-detector report``: one self-contained HTML page (``html``,
    ``save``) rendered from ``data``, its content (``to_dict``, ``json``; docs/report.md)."""

    html: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report's content (a deep copy: the caller may change it)."""
        copied: dict[str, Any] = orjson.loads(orjson.dumps(self.data))
        return copied

    @property
    def json(self) -> str:
        """The report's content as indented JSON (the schema in docs/report.md)."""
        return orjson.dumps(self.data, option=orjson.OPT_INDENT_2).decode()

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path``; returns the path."""
        out = Path(path)
        out.write_text(self.html, encoding="utf-8")
        return out

    def _repr_html_(self) -> str:  # shown inline by Jupyter
        return self.html


def to_json(data: dict[str, Any]) -> str:
    """The report dict as indented JSON (NaN and infinities are already null)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def render(engine: Engine, generated_at: str) -> str:
    """The HTML page of one engine's model."""
    return render_page(build(engine, generated_at))


def report_of(engine: Engine, generated_at: str) -> Report:
    """The report of an engine: its data and the page rendered from it."""
    data = build(engine, generated_at)
    return Report(html=render_page(data), data=data)
