//! Window tests and quality checks of a closed window, and the alert lifecycle.
//!
//! The statistics and thresholds of `detector.detectors.distribution` and `detector.quality`
//! (see those modules for why each threshold is what it is). Chi-square levels are constants per
//! series, passed in from scipy; beta-binomial critical counts come from the Python function
//! `detector.quality.critical_count` (scipy), cached here: windows of one size repeat.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::stats::pairwise_sum;

/// A test's or check's name, as the alert contract spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Test {
    Psi = 0,
    Js = 1,
    Ks = 2,
    Wasserstein = 3,
    ChiSquare = 4,
    MissingRate = 5,
    TypeErrors = 6,
    OutOfRange = 7,
    Constant = 8,
    UnseenCategories = 9,
    Adwin = 10,
    PageHinkley = 11,
    Plugin = 12,
}

const TESTS: [(Test, &str); 13] = [
    (Test::Psi, "psi"),
    (Test::Js, "js"),
    (Test::Ks, "ks"),
    (Test::Wasserstein, "wasserstein"),
    (Test::ChiSquare, "chi_square"),
    (Test::MissingRate, "missing_rate"),
    (Test::TypeErrors, "type_errors"),
    (Test::OutOfRange, "out_of_range"),
    (Test::Constant, "constant"),
    (Test::UnseenCategories, "unseen_categories"),
    (Test::Adwin, "adwin"),
    (Test::PageHinkley, "page_hinkley"),
    (Test::Plugin, "plugin"), // a configured detector that runs in Python (its name is there)
];

impl Test {
    pub fn name(self) -> &'static str {
        TESTS[self as usize].1
    }

    pub fn from_code(code: u8) -> Option<Test> {
        TESTS.get(code as usize).map(|(t, _)| *t)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub test: Test,
    pub value: f64,
    pub threshold: f64,
}

impl Outcome {
    pub fn fired(&self) -> bool {
        self.value > self.threshold
    }
}

const PROB_FLOOR: f64 = 1e-6;

/// Reference shares as the tests use them: floored at 1e-6 and renormalised.
pub fn floored_shares(probs: &[f64]) -> Vec<f64> {
    let p: Vec<f64> = probs.iter().map(|&v| v.max(PROB_FLOOR)).collect();
    let total = pairwise_sum(&p);
    p.iter().map(|v| v / total).collect()
}

/// PSI and Jensen-Shannon distance of window counts against floored shares `p`.
pub fn psi_js(counts: &[i64], p: &[f64], level: f64) -> [Outcome; 2] {
    let total: i64 = counts.iter().sum();
    let n = total as f64;
    let denominator = n + 0.5 * counts.len() as f64;
    let q: Vec<f64> = counts.iter().map(|&c| (c as f64 + 0.5) / denominator).collect();
    let psi_terms: Vec<f64> = q.iter().zip(p).map(|(q, p)| (q - p) * (q / p).ln()).collect();
    let mid: Vec<f64> = q.iter().zip(p).map(|(q, p)| (q + p) / 2.0).collect();
    let q_terms: Vec<f64> = q.iter().zip(&mid).map(|(q, m)| q * (q / m).ln()).collect();
    let p_terms: Vec<f64> = p.iter().zip(&mid).map(|(p, m)| p * (p / m).ln()).collect();
    let jsd = 0.5 * (pairwise_sum(&q_terms) + pairwise_sum(&p_terms));
    [
        Outcome { test: Test::Psi, value: pairwise_sum(&psi_terms), threshold: level / n },
        Outcome {
            test: Test::Js,
            value: jsd.max(0.0).sqrt(),
            threshold: (level / (8.0 * n)).sqrt(),
        },
    ]
}

/// Pearson's chi-square of window counts against floored shares `p`.
pub fn chi_square(counts: &[i64], p: &[f64], level: f64) -> Outcome {
    let n: i64 = counts.iter().sum();
    let terms: Vec<f64> = counts
        .iter()
        .zip(p)
        .map(|(&c, &p)| {
            let expected = n as f64 * p;
            let gap = c as f64 - expected;
            gap * gap / expected
        })
        .collect();
    Outcome { test: Test::ChiSquare, value: pairwise_sum(&terms), threshold: level }
}

/// The numeric reference's bins, with what the binned tests derive from them once.
#[derive(Clone, Debug)]
pub struct Bins {
    pub floored: Vec<f64>,
    cumulative: Vec<f64>,
    widths: Vec<f64>,
    span: f64,
}

impl Bins {
    pub fn new(probs: &[f64], edges: &[f64]) -> Self {
        let mut cumulative = Vec::with_capacity(probs.len());
        let mut running = 0.0;
        for &p in probs {
            running += p;
            cumulative.push(running);
        }
        Bins {
            floored: floored_shares(probs),
            cumulative,
            widths: edges.windows(2).map(|w| w[1] - w[0]).collect(),
            span: if edges.len() >= 2 { edges[edges.len() - 1] - edges[0] } else { 0.0 },
        }
    }

    /// PSI, JS, KS and normalised Wasserstein of window counts (`binned_tests`).
    pub fn tests(
        &self,
        counts: &[i64],
        std: f64,
        chi2_level: f64,
        alpha: f64,
        reference_count: f64,
        inflation: f64,
    ) -> Vec<Outcome> {
        let n = counts.iter().sum::<i64>() as f64;
        let widen = (1.0 + n / reference_count) * inflation;
        let mut out = psi_js(counts, &self.floored, chi2_level * widen).to_vec();
        let k = counts.len();
        let mut gaps = Vec::with_capacity(k.saturating_sub(1));
        let mut running = 0.0;
        for (count, cumulative) in counts.iter().zip(&self.cumulative).take(k.saturating_sub(1)) {
            running += *count as f64 / n;
            gaps.push((running - cumulative).abs());
        }
        let ks_level = ((2.0 / alpha).ln() / (2.0 * n) * widen).sqrt();
        let ks = gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        out.push(Outcome {
            test: Test::Ks,
            value: if gaps.is_empty() { 0.0 } else { ks },
            threshold: ks_level,
        });
        if !self.widths.is_empty() && std > 0.0 {
            let terms: Vec<f64> = gaps.iter().zip(&self.widths).map(|(g, w)| g * w).collect();
            out.push(Outcome {
                test: Test::Wasserstein,
                value: pairwise_sum(&terms) / std,
                threshold: ks_level * self.span / std,
            });
        }
        out
    }
}

/// `detector.quality.critical_count(n, a, b, alpha)`, from Python, cached across series.
pub struct CriticalCounts;

type CriticalKey = (u64, u64, u64, u64); // n and the bits of a, b and alpha
static CRITICAL: Mutex<Option<HashMap<CriticalKey, i64>>> = Mutex::new(None);
static PROVIDER: Mutex<Option<Py<PyAny>>> = Mutex::new(None);
const CACHE_LIMIT: usize = 1 << 16;

impl CriticalCounts {
    pub fn set_provider(function: Py<PyAny>) {
        *PROVIDER.lock().unwrap() = Some(function);
    }

    /// Cached, or computed by the Python provider (which takes the GIL: series update with
    /// the GIL released, several at a time).
    pub fn get(n: u64, a: f64, b: f64, alpha: f64) -> PyResult<i64> {
        let key = (n, a.to_bits(), b.to_bits(), alpha.to_bits());
        if let Some(&found) = CRITICAL.lock().unwrap().get_or_insert_with(HashMap::new).get(&key) {
            return Ok(found);
        }
        let limit: i64 = Python::attach(|py| {
            let function =
                PROVIDER.lock().unwrap().as_ref().map(|f| f.clone_ref(py)).ok_or_else(|| {
                    pyo3::exceptions::PyRuntimeError::new_err("no critical_count set")
                })?;
            function.call1(py, (n, a, b, alpha))?.extract(py)
        })?;
        let mut cache = CRITICAL.lock().unwrap();
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, limit);
        Ok(limit)
    }
}

/// A count of events of a kind in a window of `n`: implausibly many at `alpha`?
/// `(a, b)` is the beta-binomial's prior from the reference (`detector.quality.rate_check`).
pub fn rate_check(test: Test, count: u64, n: u64, a: f64, b: f64, alpha: f64) -> PyResult<Outcome> {
    let limit = CriticalCounts::get(n, a, b, alpha)?;
    Ok(Outcome { test, value: count as f64 / n as f64, threshold: (limit as f64 - 0.5) / n as f64 })
}

/// All values equal, when the reference makes that implausible (`constant_check`).
pub fn constant_check(n: u64, spread: f64, mode_share: f64, alpha: f64) -> Outcome {
    let plausible = n < 2 || mode_share >= 1.0 || mode_share.powf(n as f64) >= alpha;
    let value = if spread == 0.0 && !plausible { 1.0 } else { 0.0 };
    Outcome { test: Test::Constant, value, threshold: 0.5 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Severity {
    Critical = 0,
    Warning = 1,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// firing on the first detection, folded repeats, resolved after enough clean windows
/// (`detector.alerts.Lifecycle`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lifecycle {
    pub firing: bool,
    pub started_at: f64,
    pub severity: Severity,
    pub detections: u64,
    pub clean_windows: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            firing: false,
            started_at: 0.0,
            severity: Severity::Warning,
            detections: 0,
            clean_windows: 0,
        }
    }
}

impl Lifecycle {
    /// Record a detection; true when it starts a new firing alert.
    pub fn detect(&mut self, when: f64, severity: Severity) -> bool {
        self.clean_windows = 0;
        if self.firing {
            self.detections += 1;
            return false;
        }
        self.firing = true;
        self.started_at = when;
        self.severity = severity;
        self.detections = 1;
        true
    }

    /// Record a window while firing; true when it resolves the alert.
    pub fn window_checked(&mut self, consistent: bool, needed: u64) -> bool {
        if !self.firing {
            return false;
        }
        self.clean_windows = if consistent { self.clean_windows + 1 } else { 0 };
        if self.clean_windows >= needed {
            self.firing = false;
            self.clean_windows = 0;
            return true;
        }
        false
    }
}
