//! Everything a numeric series keeps about all its values since the reference: moments, the
//! reference-bin histogram and a DDSketch of quantiles. All three merge exactly (moments up to
//! rounding), as `detector.sketches` documents; these are the same sketches, fed per window.

use std::collections::BTreeMap;

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

/// Log-spaced buckets: a value's key is `ceil(ln|v| / ln gamma)`.
#[derive(Clone, Debug, Default)]
pub struct QuantileSketch {
    pub positive: BTreeMap<i64, u64>,
    pub negative: BTreeMap<i64, u64>,
    pub zeros: u64,
}

fn gamma_ln() -> f64 {
    ((1.0 + SKETCH_ALPHA) / (1.0 - SKETCH_ALPHA)).ln()
}

impl QuantileSketch {
    fn add(store: &mut BTreeMap<i64, u64>, magnitude: f64, gamma_ln: f64) {
        let key = (magnitude.ln() / gamma_ln).ceil() as i64;
        *store.entry(key).or_insert(0) += 1;
    }

    fn collapse(store: &mut BTreeMap<i64, u64>) {
        if store.len() <= MAX_BUCKETS {
            return;
        }
        let cut = *store.keys().nth(store.len() - MAX_BUCKETS).expect("more keys than the cap");
        let low: Vec<i64> = store.range(..cut).map(|(k, _)| *k).collect();
        let folded: u64 = low.iter().map(|k| store.remove(k).unwrap_or(0)).sum();
        *store.get_mut(&cut).expect("cut is a key") += folded;
    }

    pub fn update(&mut self, values: &[f64]) {
        let gamma_ln = gamma_ln();
        for &v in values.iter().filter(|v| v.is_finite()) {
            if v > 0.0 {
                Self::add(&mut self.positive, v, gamma_ln);
            } else if v < 0.0 {
                Self::add(&mut self.negative, -v, gamma_ln);
            } else {
                self.zeros += 1;
            }
        }
        Self::collapse(&mut self.positive);
        Self::collapse(&mut self.negative);
    }

    pub fn count(&self) -> u64 {
        self.zeros + self.positive.values().sum::<u64>() + self.negative.values().sum::<u64>()
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
        for (&key, &count) in self.negative.iter().rev() {
            seen += count;
            if seen as f64 > rank {
                return -Self::value(key, gamma_ln);
            }
        }
        seen += self.zeros;
        if seen as f64 > rank {
            return 0.0;
        }
        for (&key, &count) in &self.positive {
            seen += count;
            if seen as f64 > rank {
                return Self::value(key, gamma_ln);
            }
        }
        self.positive.keys().next_back().map_or(0.0, |&k| Self::value(k, gamma_ln))
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
