"""Operating the detector: Prometheus metrics, health endpoints, JSON logs and progress lines.

- :mod:`detector.observability.metrics`: the worker's counters, updated once per micro-batch;
- :mod:`detector.observability.collectors`: Prometheus collectors reading that state and the
  engine's series at scrape time (nothing is computed per event);
- :mod:`detector.observability.series_stats`: the current drift statistic of one series;
- :mod:`detector.observability.http`: ``/metrics``, ``/healthz`` and ``/readyz``;
- :mod:`detector.observability.logs`: text or JSON-lines logs on stderr;
- :mod:`detector.observability.progress`: a progress line for ``replay`` and ``run --until-end``.
"""
