//! The drift tests of a closed window's counts against reference shares: PSI, Jensen-Shannon,
//! chi-square, and for numeric bins KS and normalised Wasserstein.
//!
//! Their thresholds are explained in `detector.detectors.distribution`; the numpy versions in
//! `detector.testing.oracles` are what `tests/test_differential.py` checks these against.
//! Chi-square levels are constants per series, passed in from scipy.

use crate::outcome::{Outcome, Test};
use crate::stats::pairwise_sum;

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
