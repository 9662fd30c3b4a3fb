//! A numeric series' reference: normal scores and reference bins, value by value.
//!
//! The transform the numpy oracle `detector.testing.oracles.normal_scores` checks: a value's mid-rank
//! in the reference CDF (linear between the 201 quantiles, ties at their mid-rank), through
//! scipy's inverse normal CDF, clipped half a rank from 0 and 1.

use crate::stats::ndtri;

pub const GRID_POINTS: usize = 201;
const BUCKETS: usize = 1024; // ~5 per quantile gap: most buckets hold 0 or 1 quantile
const SCAN: usize = 8; // a bucket with more quantiles (ties, heavy tails) is binary-searched

/// `np.linspace(0.0, 1.0, 201)`: numpy computes `i * (1 / 200)` and sets the last to 1.
fn grid() -> [f64; GRID_POINTS] {
    let step = 1.0 / (GRID_POINTS - 1) as f64;
    let mut g = [0.0; GRID_POINTS];
    for (i, value) in g.iter_mut().enumerate() {
        *value = i as f64 * step + 0.0;
    }
    g[GRID_POINTS - 1] = 1.0;
    g
}

/// A CDF value's normal score, clipped `edge` (half a rank) from 0 and 1.
#[inline]
fn score_of(cdf: f64, edge: f64) -> f64 {
    ndtri(cdf.clamp(edge, 1.0 - edge))
}

#[derive(Clone, Debug)]
pub struct Reference {
    pub quantiles: Vec<f64>, // GRID_POINTS, ascending
    pub count: f64,
    pub mean: f64,
    pub std: f64,
    pub edges: Vec<f64>, // interior bin edges; bins are [e_i, e_i+1), outer bins open
    pub probs: Vec<f64>,
    pub mode_share: f64,
    pub low: f64, // range check bounds: configured, or the reference's extremes
    pub high: f64,
    grid: [f64; GRID_POINTS],
    edge: f64,
    ranks: Option<RankTable>,
    // Scores that depend on the value's rank alone, computed once: a value equal to quantile
    // `i` scores `tied[i]` (counts and rounded values tie often), one beyond the quantiles
    // `below` or `above`. The same floats `normal_score` would compute each time.
    tied: Vec<f64>,
    below: f64,
    above: f64,
}

/// `np.searchsorted(q, v, "left")` in a few comparisons: the quantiles' range is cut into
/// `BUCKETS` equal buckets and a value is compared only with the quantiles of its own bucket.
/// Exact: a value's bucket and each quantile's come from the same monotone float expression,
/// so every quantile in a lower bucket is below the value and every one in a higher bucket is
/// not.
#[derive(Clone, Debug)]
struct RankTable {
    q0: f64,
    scale: f64,
    start: Vec<u16>, // per bucket, and one past the last: quantiles in lower buckets
}

impl RankTable {
    fn bucket(&self, v: f64) -> usize {
        ((v - self.q0) * self.scale).clamp(0.0, BUCKETS as f64) as usize
    }

    fn new(q: &[f64]) -> Option<Self> {
        let span = q[q.len() - 1] - q[0];
        if !(span > 0.0 && span.is_finite()) {
            return None; // a constant or unbounded grid: plain binary search
        }
        let mut table = RankTable { q0: q[0], scale: BUCKETS as f64 / span, start: Vec::new() };
        let mut counts = vec![0u16; BUCKETS + 2];
        for &value in q {
            counts[table.bucket(value) + 1] += 1;
        }
        let mut running = 0u16;
        table.start = counts
            .iter()
            .map(|c| {
                running += c;
                running
            })
            .collect();
        Some(table)
    }
}

impl Reference {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        quantiles: Vec<f64>,
        count: f64,
        mean: f64,
        std: f64,
        edges: Vec<f64>,
        probs: Vec<f64>,
        mode_share: f64,
        low: f64,
        high: f64,
    ) -> Result<Self, String> {
        if quantiles.len() != GRID_POINTS || !quantiles.is_sorted() || quantiles[0].is_nan() {
            return Err(format!("a reference needs {GRID_POINTS} ascending quantiles"));
        }
        if probs.len() != edges.len() + 1
            || edges.iter().any(|e| e.is_nan())
            || edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err("reference bins need ascending edges and one probability more".into());
        }
        if count.is_nan() || count < 1.0 {
            return Err("a reference needs at least one value".into());
        }
        let ranks = RankTable::new(&quantiles);
        let (g, edge) = (grid(), 0.5 / (count + 1.0));
        let tied = (0..GRID_POINTS)
            .map(|i| {
                // The run of quantiles equal to quantile i ends at `np.searchsorted(q, q[i], "right")`.
                let last = quantiles.partition_point(|&x| x <= quantiles[i]) - 1;
                score_of((g[i] + g[last]) / 2.0, edge)
            })
            .collect();
        Ok(Reference {
            ranks,
            tied,
            below: score_of(0.0, edge),
            above: score_of(1.0, edge),
            quantiles,
            count,
            mean,
            std,
            edges,
            probs,
            mode_share,
            low,
            high,
            grid: g,
            edge,
        })
    }

    /// Index of the first quantile >= v (`np.searchsorted(q, v, "left")`).
    #[inline]
    fn lower(&self, v: f64) -> usize {
        let q = &self.quantiles;
        let Some(table) = &self.ranks else {
            return q.partition_point(|&x| x < v);
        };
        let b = table.bucket(v);
        let (first, end) = (table.start[b] as usize, table.start[b + 1] as usize);
        let mates = &q[first..end];
        if mates.len() > SCAN {
            return first + mates.partition_point(|&x| x < v);
        }
        first + mates.iter().take_while(|&&x| x < v).count()
    }

    #[inline]
    pub fn normal_score(&self, v: f64) -> f64 {
        let (q, g, n) = (&self.quantiles, &self.grid, GRID_POINTS);
        let lo = self.lower(v);
        if lo == n {
            return self.above;
        }
        if q[lo] == v {
            return self.tied[lo]; // the mid-rank of its ties
        }
        if lo == 0 {
            return self.below;
        }
        let below = q[lo - 1];
        let span = q[lo] - below;
        let frac = if span > 0.0 { (v - below) / span } else { 0.0 };
        let cdf = g[lo - 1] + frac.clamp(0.0, 1.0) * (g[lo] - g[lo - 1]);
        score_of(cdf, self.edge)
    }

    /// The value's reference bin (`np.searchsorted(edges, v, "right")`).
    #[inline]
    pub fn bin(&self, v: f64) -> usize {
        self.edges.partition_point(|&e| e <= v)
    }
}
