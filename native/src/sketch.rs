//! Everything a numeric series keeps about all its values since the reference: moments, the
//! reference-bin histogram and a DDSketch of quantiles (log-spaced buckets, relative accuracy
//! `SKETCH_ALPHA` on every quantile, Masson et al. 2019). Counts, histograms and buckets add up
//! exactly, so the sketches are mergeable; they are fed window by window.

use crate::stats::{mean, pairwise_sum};

pub const SKETCH_ALPHA: f64 = 0.01; // relative accuracy of every quantile
pub const MAX_BUCKETS: usize = 2048; // per sign; the lowest magnitudes collapse beyond that

#[derive(Clone, Debug)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Moments {
    fn merge(&mut self, count: u64, mean: f64, m2: f64, min: f64, max: f64) {
        if count == 0 {
            return;
        }
        let total = self.count + count;
        let delta = mean - self.mean;
        self.m2 += m2 + delta * delta * self.count as f64 * count as f64 / total as f64;
        self.mean += delta * count as f64 / total as f64;
        self.count = total;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }
}

/// Counts of consecutive bucket keys from `offset` on. When the keys in use span more than
/// `MAX_BUCKETS`, the lowest collapse into the lowest kept one (their quantiles lose accuracy
/// first, as DDSketch's collapsing-lowest store).
#[derive(Clone, Debug, Default)]
pub struct DenseStore {
    pub offset: i64,
    pub counts: Vec<u64>,
}

impl DenseStore {
    #[inline]
    fn add(&mut self, key: i64, count: u64) {
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(count);
            return;
        }
        let span = MAX_BUCKETS as i64;
        let top = self.offset + self.counts.len() as i64 - 1;
        if key > top {
            // Keep the newest `span` keys: fold what falls below into the lowest kept one.
            let offset = (key - span + 1).max(self.offset);
            if offset > self.offset {
                let drop = ((offset - self.offset) as usize).min(self.counts.len());
                let folded: u64 = self.counts.drain(..drop).sum();
                if self.counts.is_empty() {
                    self.counts.push(0);
                }
                self.counts[0] += folded;
                self.offset = offset;
            }
            self.counts.resize((key - self.offset + 1) as usize, 0);
        } else if key < self.offset {
            // Below the kept span, a key counts in the lowest bucket the span allows.
            let key = key.max(top - span + 1);
            if key < self.offset {
                let grow = (self.offset - key) as usize;
                self.counts.splice(0..0, std::iter::repeat_n(0, grow));
                self.offset = key;
            }
            self.counts[0.max(key - self.offset) as usize] += count;
            return;
        }
        self.counts[(key - self.offset) as usize] += count;
    }

    /// (key, count) of every non-empty bucket, lowest key first.
    pub fn buckets(&self) -> impl DoubleEndedIterator<Item = (i64, u64)> + '_ {
        let offset = self.offset;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(move |(i, &c)| (offset + i as i64, c))
    }

    pub fn from_buckets(keys: &[i64], counts: &[u64]) -> Option<Self> {
        let mut store = DenseStore::default();
        if keys.len() != counts.len() || !keys.is_sorted_by(|a, b| a < b) {
            return None;
        }
        if let (Some(&low), Some(&high)) = (keys.first(), keys.last()) {
            if high.checked_sub(low)? >= MAX_BUCKETS as i64 {
                return None;
            }
        }
        for (&k, &c) in keys.iter().zip(counts) {
            store.add(k, c);
        }
        Some(store)
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Log-spaced buckets: a value's key is `ceil(ln|v| / ln gamma)`.
#[derive(Clone, Debug, Default)]
pub struct QuantileSketch {
    pub positive: DenseStore,
    pub negative: DenseStore,
    pub zeros: u64,
}

/// `y.ceil() as i64` without libm's `ceil` (a call per value on x86-64 without SSE4.1): exact
/// for every key a finite f64's logarithm can give.
#[inline]
fn ceil(y: f64) -> i64 {
    let k = y as i64;
    if (k as f64) < y {
        k + 1
    } else {
        k
    }
}

fn gamma_ln() -> f64 {
    ((1.0 + SKETCH_ALPHA) / (1.0 - SKETCH_ALPHA)).ln()
}

impl QuantileSketch {
    pub fn update(&mut self, values: &[f64]) {
        let gamma_ln = gamma_ln();
        for &v in values.iter().filter(|v| v.is_finite()) {
            if v == 0.0 {
                self.zeros += 1;
                continue;
            }
            let key = ceil(v.abs().ln() / gamma_ln);
            if v > 0.0 {
                self.positive.add(key, 1);
            } else {
                self.negative.add(key, 1);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.zeros + self.positive.total() + self.negative.total()
    }

    fn value(key: i64, gamma_ln: f64) -> f64 {
        2.0 * (key as f64 * gamma_ln).exp() / (1.0 + gamma_ln.exp())
    }

    /// The value at quantile `q` (NaN when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let gamma_ln = gamma_ln();
        let rank = q * (total - 1) as f64;
        let mut seen = 0u64;
        for (key, count) in self.negative.buckets().rev() {
            seen += count;
            if seen as f64 > rank {
                return -Self::value(key, gamma_ln);
            }
        }
        seen += self.zeros;
        if seen as f64 > rank {
            return 0.0;
        }
        for (key, count) in self.positive.buckets() {
            seen += count;
            if seen as f64 > rank {
                return Self::value(key, gamma_ln);
            }
        }
        self.positive.buckets().next_back().map_or(0.0, |(k, _)| Self::value(k, gamma_ln))
    }
}

#[derive(Clone, Debug)]
pub struct Totals {
    pub moments: Moments,
    pub histogram: Vec<i64>,
    pub quantiles: QuantileSketch,
}

impl Totals {
    pub fn new(bins: usize) -> Self {
        Totals {
            moments: Moments {
                count: 0,
                mean: 0.0,
                m2: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            histogram: vec![0; bins],
            quantiles: QuantileSketch::default(),
        }
    }

    /// A closed window's values, already counted in `counts` over the same bins.
    pub fn add_window(&mut self, values: &[f64], counts: &[i64]) {
        if !values.is_empty() {
            let m = mean(values);
            let squares: Vec<f64> = values.iter().map(|v| (v - m) * (v - m)).collect();
            let low = values.iter().copied().fold(f64::INFINITY, f64::min);
            let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            self.moments.merge(values.len() as u64, m, pairwise_sum(&squares), low, high);
        }
        for (total, &c) in self.histogram.iter_mut().zip(counts) {
            *total += c;
        }
        self.quantiles.update(values);
    }
}
