//! Two-sided Page-Hinkley with river's semantics, one value at a time.
//!
//! The same detections as river's `PageHinkley` (pinned in `core_tests.rs` and compared with
//! river in `tests/detectors/test_page_hinkley.py`). Besides the detection it reports the onset: the last index at which the
//! triggering cumulative sum was at its extreme (the CUSUM change-point estimate).

use crate::change_point::{self, ChangeDetector, Registration, Saved};

#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub up: bool,
    pub statistic: f64,
    /// Values seen since this detector's creation at the onset (same numbering as `seen`).
    pub onset: i64,
}

#[derive(Clone, Debug)]
pub struct PageHinkley {
    pub min_instances: u64,
    pub delta: f64,
    pub threshold: f64,
    pub alpha: f64,
    pub seen: i64, // values since creation, across resets
    n: u64,
    sum: f64,
    sum_inc: f64,
    sum_dec: f64,
    min_inc: f64,
    max_dec: f64,
    min_at: i64,
    max_at: i64,
}

impl PageHinkley {
    pub fn new(min_instances: u64, delta: f64, threshold: f64, alpha: f64) -> Self {
        let mut ph = PageHinkley {
            min_instances,
            delta,
            threshold,
            alpha,
            seen: 0,
            n: 0,
            sum: 0.0,
            sum_inc: 0.0,
            sum_dec: 0.0,
            min_inc: f64::INFINITY,
            max_dec: -1.0,
            min_at: -1,
            max_at: -1,
        };
        ph.reset();
        ph
    }

    fn reset(&mut self) {
        self.n = 0;
        self.sum = 0.0;
        self.sum_inc = 0.0;
        self.sum_dec = 0.0;
        self.min_inc = f64::INFINITY;
        self.max_dec = -1.0; // river starts at -1, not -inf
        self.min_at = -1;
        self.max_at = -1;
    }

    /// The larger one-sided test value now; None right after a reset.
    pub fn statistic(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some((self.sum_inc - self.min_inc).max(self.max_dec - self.sum_dec))
    }

    #[inline]
    fn step(&self, carry: f64, step: f64) -> f64 {
        if self.alpha == 1.0 {
            carry + step
        } else {
            step + self.alpha * carry
        }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<Detection> {
        let index = self.seen;
        self.seen += 1;
        self.n += 1;
        self.sum += x;
        let deviation = x - self.sum / self.n as f64;
        self.sum_inc = self.step(self.sum_inc, deviation - self.delta);
        self.sum_dec = self.step(self.sum_dec, deviation + self.delta);
        if self.sum_inc <= self.min_inc {
            self.min_inc = self.sum_inc;
            self.min_at = index;
        }
        if self.sum_dec >= self.max_dec {
            self.max_dec = self.sum_dec;
            self.max_at = index;
        }
        if self.n < self.min_instances {
            return None;
        }
        let test_inc = self.sum_inc - self.min_inc;
        let test_dec = self.max_dec - self.sum_dec;
        if !(test_inc > self.threshold || test_dec > self.threshold) {
            return None;
        }
        let up = test_inc > self.threshold;
        let found = Detection {
            up,
            statistic: if up { test_inc } else { test_dec },
            onset: if up { self.min_at } else { self.max_at },
        };
        self.reset();
        Some(found)
    }

    /// (n, sum, sum_inc, sum_dec, min_inc, max_dec, min_at, max_at): everything but settings.
    pub fn state(&self) -> [f64; 8] {
        [
            self.n as f64,
            self.sum,
            self.sum_inc,
            self.sum_dec,
            self.min_inc,
            self.max_dec,
            self.min_at as f64,
            self.max_at as f64,
        ]
    }

    /// Restore what [`PageHinkley::state`] saved; false (and unchanged) if it is inconsistent.
    #[must_use]
    pub fn set_state(&mut self, seen: i64, s: [f64; 8]) -> bool {
        let whole = |v: f64| v.is_finite() && v.fract() == 0.0;
        let index = |v: f64| whole(v) && v >= -1.0 && v < seen as f64;
        let valid = seen >= 0
            && whole(s[0])
            && s[0] >= 0.0
            && s[1..4].iter().all(|v| v.is_finite())
            && !s[4].is_nan()
            && s[5].is_finite()
            && index(s[6])
            && index(s[7]);
        if !valid {
            return false;
        }
        self.seen = seen;
        self.n = s[0] as u64;
        self.sum = s[1];
        self.sum_inc = s[2];
        self.sum_dec = s[3];
        self.min_inc = s[4];
        self.max_dec = s[5];
        self.min_at = s[6] as i64;
        self.max_at = s[7] as i64;
        true
    }
}

const MIN_INSTANCES: u64 = 30;

/// Page-Hinkley as a numeric series runs it: on normal scores (alpha 1), its threshold
/// scaled by the inflation of dependent scores; the onset gives the change's start.
#[derive(Clone, Debug)]
pub struct SeriesPageHinkley {
    configured: f64,
    ph: PageHinkley,
}

pub const DETECTOR: Registration = Registration {
    name: "page_hinkley",
    statistic: "cusum_sd",
    build: |s| {
        let ph = PageHinkley::new(MIN_INSTANCES, s.ph_delta, s.ph_threshold, 1.0);
        Box::new(SeriesPageHinkley { configured: s.ph_threshold, ph })
    },
};

impl ChangeDetector for SeriesPageHinkley {
    fn update(&mut self, scores: &[f64], found: &mut Vec<change_point::Detection>) {
        for (index, &z) in scores.iter().enumerate() {
            if let Some(d) = self.ph.update(z) {
                let since = Some((self.ph.seen - 1 - d.onset) as usize);
                let level = self.ph.threshold;
                found.push(change_point::Detection { index, statistic: d.statistic, level, since });
            }
        }
    }

    /// The cumulative sums' spread grows with the inflation: the threshold scales by it.
    fn calibrate(&mut self, inflation: f64) {
        self.ph.threshold = self.configured * inflation;
    }

    fn running(&self) -> Option<(f64, f64)> {
        self.ph.statistic().map(|s| (s, self.ph.threshold))
    }

    /// (values seen, the eight sums and extremes of [`PageHinkley::state`], threshold).
    fn save(&self) -> Saved {
        let sums = self.ph.state().iter().map(|&v| Saved::Float(v)).collect();
        let seen = Saved::Int(self.ph.seen);
        Saved::Tuple(vec![seen, Saved::List(sums), Saved::Float(self.ph.threshold)])
    }

    fn load(&mut self, saved: &Saved) -> Result<(), String> {
        let [seen, sums, threshold] = saved.items()? else {
            return Err("page_hinkley".into());
        };
        let sums: [f64; 8] = sums.floats()?.try_into().map_err(|_| "page_hinkley")?;
        let threshold = threshold.float()?;
        let mut ph = PageHinkley::new(MIN_INSTANCES, self.ph.delta, threshold, 1.0);
        if !threshold.is_finite() || !ph.set_state(seen.int()?, sums) {
            return Err("page_hinkley".into());
        }
        self.ph = ph;
        Ok(())
    }

    fn boxed_clone(&self) -> Box<dyn ChangeDetector> {
        Box::new(self.clone())
    }
}
