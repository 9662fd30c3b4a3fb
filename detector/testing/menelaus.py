"""menelaus' bundled example data, drawn again: the peer's documented drifts, among them a
correlation-only change in 2015.

``menelaus.datasets.make_example_batch_data()`` (menelaus 0.2.0) seeds numpy's legacy generator
with 123 and draws 15 years x 20,000 rows of features ``a`` ... ``j``, ``cat`` and
``confidence``, then plants: ``b``'s mean in 2009; ``c``'s and ``d``'s variance in 2012; the
correlation of ``e`` and ``f`` from 0 to 0.5 in 2015 (every marginal unchanged); ``h``'s mean and
variance and ``confidence``'s range from 2019 on; ``j``'s in 2021. :func:`example_batch_data`
makes the same draws in the same order, so its values equal menelaus' to the last bit (checked
against menelaus 0.2.0 when this was written), without menelaus and pandas as dependencies.

>>> data = example_batch_data()
>>> len(data["year"]), sorted(set(data["year"].tolist()))[:3]
(300000, [2007, 2008, 2009])
>>> in_2015 = data["year"] == 2015
>>> round(float(np.corrcoef(data["e"][in_2015], data["f"][in_2015])[0, 1]), 1)
0.5
"""

from __future__ import annotations

import numpy as np

YEARS = range(2007, 2022)
YEAR_SIZE = 20_000
NUMERIC = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "confidence")


def example_batch_data() -> dict[str, np.ndarray]:
    """The columns of ``make_example_batch_data()`` (rows sorted by year, as there)."""
    random = np.random.RandomState(123)  # np.random.seed(123): the same legacy stream
    n = YEAR_SIZE * len(YEARS)
    year = np.repeat(np.asarray(YEARS), YEAR_SIZE)
    index = np.arange(n)
    col: dict[str, np.ndarray] = {"year": year}
    col["a"] = random.gamma(shape=8, size=n) * 1000
    col["b"] = random.normal(loc=200, scale=10, size=n)
    col["c"] = random.gamma(shape=7, size=n) * 1000
    col["d"] = random.gamma(shape=10, size=n) * 10000
    ef = random.multivariate_normal(mean=(0, 0), cov=np.array([[2, 0], [0, 2]]), size=n)
    col["g"] = random.gamma(shape=11, size=n) * 10000
    col["h"] = random.gamma(shape=12, size=n) * 1000
    col["i"] = random.gamma(shape=9, size=n) * 1000
    col["j"] = random.gamma(shape=10, size=n) * 100
    col["cat"] = random.choice(range(7), size=n, p=(0.3, 0.3, 0.2, 0.1, 0.05, 0.04, 0.01))
    col["confidence"] = random.uniform(low=0, high=0.6, size=n)
    col["b"][year == 2009] = random.normal(size=YEAR_SIZE, loc=500, scale=10)
    mu_c, mu_d = col["c"].mean(), col["d"].mean()
    tenth = (year == 2012) & (index % 10 == 0)
    col["c"][tenth] = mu_c + random.normal(loc=0, scale=10, size=YEAR_SIZE // 10)
    half = (year == 2012) & (index % 2 == 0)
    col["d"][half] = mu_d + random.normal(loc=0, scale=10, size=YEAR_SIZE // 2)
    ef[year == 2015] = random.multivariate_normal(
        mean=(0, 0), cov=np.array([[2, 1], [1, 2]]), size=YEAR_SIZE
    )
    col["e"], col["f"] = ef[:, 0].copy(), ef[:, 1].copy()
    late = year > 2018
    col["h"][late] = random.gamma(shape=1, scale=1, size=3 * YEAR_SIZE) * 1000
    col["confidence"][late] = random.uniform(low=0.4, high=1, size=3 * YEAR_SIZE)
    col["j"][year == 2021] = random.gamma(shape=10, size=YEAR_SIZE) * 10
    return col
