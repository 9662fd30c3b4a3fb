"""Chi-square test of category shares: a window against the reference counts.

Both the reference and the window are samples, so this is the two-sample (2 x k contingency)
Pearson test, which accounts for the reference's own sampling noise. Categories with no count on
either side carry no information and are dropped from the degrees of freedom.

>>> import numpy as np
>>> stat, df, p = chi_square_two_sample(np.array([100, 800, 100]), np.array([15, 70, 15]))
>>> df, round(stat, 2), p > 0.05
(2, 5.5, True)
>>> chi_square_two_sample(np.array([100, 900]), np.array([30, 70]))[2] < 1e-6
True
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2


def chi_square_two_sample(reference: np.ndarray, window: np.ndarray) -> tuple[float, int, float]:
    """Return (statistic, degrees of freedom, p-value) for equal shares in both samples."""
    table = np.vstack([reference, window]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    df = table.shape[1] - 1
    if df < 1 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, max(df, 0), 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    return stat, df, float(chi2.sf(stat, df))


def chi_square_threshold(alpha: float, df: int) -> float:
    """The statistic above which the test rejects at level ``alpha``."""
    return float(chi2.isf(alpha, max(df, 1)))
