"""``drift-detector route``: deliver alerts from the alerts topic to on-call tools.

The router reads the alert CloudEvents, groups the alerts of one model that fire together,
holds back flapping series, drops silenced ones, and delivers each notification to every sink
of its route (PagerDuty Events v2, Alertmanager API v2, a JSON webhook, a Slack-style webhook).
Its state (groups, pending notifications and per-sink progress) lives in a compacted Kafka
topic written in the same transaction as the alerts topic offsets, so a restart neither loses
nor re-sends a notification, except the one whose HTTP request was in flight.

Modules: :mod:`.config` (YAML; with :mod:`.fields` and :mod:`.sink_config`),
:mod:`.notifications` (what a page says), :mod:`.grouping` (noise control), :mod:`.silences`,
:mod:`.sinks` (one module per tool), :mod:`.state` (the compacted state topic), :mod:`.router`
(the loop), :mod:`.metrics` and :mod:`.service` (``/metrics``, ``/healthz``, ``/readyz``) and
:mod:`.cli`; :mod:`.testing` and :mod:`.receivers` serve the tests.
"""
