"""Ground truth: delayed labels joined to predictions, model performance and where it is worse.

- :mod:`~detector.labels.decode`: label records into columnar batches (the core types they
  share with the engine, derived fields and prediction halves, are in :mod:`detector.predictions`);
- :mod:`~detector.labels.join`: the bounded store where each half waits for the other;
- :mod:`~detector.labels.metrics`: accuracy, precision, recall, F1, log loss, ECE, MAE, RMSE;
- :mod:`~detector.labels.versus_rest`: is a segment's error worse than the rest's;
- :mod:`~detector.labels.series`: per-segment performance windows, ADWIN on the error stream;
- :mod:`~detector.labels.monitor`: the engine's hook that ties them together, fed in key order
  (:mod:`detector.order`);
- :mod:`~detector.labels.summary`: the ``labels`` block of the run and replay summaries;
- :mod:`~detector.labels.baseline`: the ``labels`` entry of a training baseline.
"""
