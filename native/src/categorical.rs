//! A categorical series once it has its reference: window counts per category, the
//! chi-square / PSI / JS tests against the reference shares, the missing, type-error and
//! unseen-category checks, and the lifecycles (`detector.series.categorical`).
//!
//! Values arrive as codes into the column's vocabulary, with two tables Python derives once
//! per distinct text: each text's category (a tracked one's index, or `other` for the
//! reference's rare and untracked categories) and whether the reference never saw it.

use crate::binned_tests::{chi_square, floored_shares, psi_js};
use crate::judge::{Alerts, Signal, Verdict};
use crate::outcome::{Outcome, Severity, Test};
use crate::window::{Clock, Counts, Rows, Windows};

/// The lifecycles of a categorical series: drift (filed under its first test), then the checks.
pub const KEYS: [Test; 4] =
    [Test::ChiSquare, Test::MissingRate, Test::TypeErrors, Test::UnseenCategories];

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub windows: Windows,
    pub unseen: (f64, f64), // beta-binomial prior of never-seen categories (Good-Turing)
    // How much more window counts vary than independent draws' (shares that wander, runs of
    // one category): the chi-square level scales by it. 1 = independent.
    pub inflation: f64,
}

#[derive(Clone, Debug, Default)]
pub struct OpenWindow {
    pub counts: Vec<i64>, // tracked categories, then other
    pub seen: Counts,
    pub unseen: u64,
    pub first: f64,
    pub last: f64,
}

/// Chi-square, PSI and JS of window counts against the reference shares (`categorical_tests`).
fn tests(
    counts: &[i64],
    floored: &[f64],
    reference_count: f64,
    chi2_level: f64,
    inflation: f64,
) -> Vec<Outcome> {
    let n = counts.iter().sum::<i64>() as f64;
    let level = chi2_level * (1.0 + n / reference_count) * inflation;
    let [psi, js] = psi_js(counts, floored, level);
    vec![chi_square(counts, floored, level), psi, js]
}

impl OpenWindow {
    fn new(cells: usize) -> Self {
        OpenWindow { counts: vec![0; cells], first: f64::NAN, last: f64::NAN, ..Default::default() }
    }
}

#[derive(Clone, Debug)]
pub struct CategoricalCore {
    pub settings: Settings,
    pub shares: Vec<f64>, // reference shares: tracked categories, then other
    pub floored: Vec<f64>,
    pub reference_count: f64,
    pub clock: Clock,
    pub open: OpenWindow,
    pub alerts: Alerts,
    pub last_counts: Option<Vec<i64>>,
    pub totals: Vec<i64>, // all values since the reference, by category
    pub seen: Counts,     // every event since the reference
}

impl CategoricalCore {
    pub fn new(settings: Settings, shares: Vec<f64>, reference_count: f64) -> Self {
        let cells = shares.len();
        CategoricalCore {
            settings,
            floored: floored_shares(&shares),
            shares,
            reference_count,
            clock: Clock::default(),
            open: OpenWindow::new(cells),
            alerts: Alerts::new(&KEYS),
            last_counts: None,
            totals: vec![0; cells],
            seen: Counts::default(),
        }
    }

    /// Feed one batch; the alerts' status changes, in stream order.
    /// Feed the series' events of a batch: `texts` are the column's codes into its vocabulary
    /// (-1 missing), `table` maps each to a category (other last) and `unseen` tells whether
    /// the reference never saw it.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        texts: &[i32],
        table: &[i32],
        unseen: &[bool],
        errors: &[bool],
        times: &[f64],
        rows: Rows<'_>,
    ) -> Vec<Signal> {
        let mut out = Vec::new();
        let windows = self.settings.windows;
        let cells = self.shares.len() as i32;
        for p in 0..rows.len() {
            let i = rows.at(p);
            let text = texts[i];
            let (code, new) = match usize::try_from(text) {
                Ok(k) => (table[k], unseen[k]),
                Err(_) => (-1, false),
            };
            let (error, t) = (errors[i], times[i]);
            let p = p as i64;
            if self.clock.ends_before(&windows, t) {
                self.close(p - 1, &mut out);
            }
            self.seen.add(error, code < 0);
            let w = &mut self.open;
            w.seen.add(error, code < 0);
            if (0..cells).contains(&code) {
                w.counts[code as usize] += 1;
                w.unseen += u64::from(new);
            }
            if w.first.is_nan() {
                w.first = t;
            }
            w.last = t;
            if self.clock.ends_with(&windows) {
                self.close(p, &mut out);
            }
        }
        out
    }

    fn close(&mut self, position: i64, out: &mut Vec<Signal>) {
        if self.open.seen.events == 0 {
            return;
        }
        let w = std::mem::replace(&mut self.open, OpenWindow::new(self.shares.len()));
        let s = self.settings.windows;
        let n: i64 = w.counts.iter().sum();
        for (total, c) in self.totals.iter_mut().zip(&w.counts) {
            *total += c;
        }
        // Total variation between the window's shares and the reference's; x5 so that the
        // default critical_shift of 1.0 means a total variation of 0.2.
        let total = n.max(1) as f64;
        let change: f64 = 0.5
            * w.counts
                .iter()
                .zip(&self.shares)
                .map(|(&c, s)| (c as f64 / total - s).abs())
                .sum::<f64>();
        let shift = change * 5.0;
        let severity =
            if shift.abs() >= s.critical_shift { Severity::Critical } else { Severity::Warning };
        let mut verdict = Verdict { drift: Vec::new(), quality: Vec::new(), severity };
        if n >= s.min_window_values as i64 {
            self.last_counts = Some(w.counts.clone());
            let (floored, count, inflation) =
                (&self.floored, self.reference_count, self.settings.inflation);
            verdict.drift = tests(&w.counts, floored, count, s.chi2_level, inflation);
        }
        let events = w.seen.events;
        let (missing, missing_events) = s.missing_counts(w.seen.missing, events);
        let mut rates = vec![
            (Test::MissingRate, missing, missing_events, s.missing),
            (Test::TypeErrors, w.seen.errors, events, s.type_errors),
        ];
        if n > 0 {
            rates.push((Test::UnseenCategories, w.unseen, n as u64, self.settings.unseen));
        }
        for (test, count, events, prior) in rates {
            verdict.rate(test, count, events, prior, s.alpha, false);
        }
        let (floored, count, inflation) =
            (&self.floored, self.reference_count, self.settings.inflation);
        let drift_clean = || {
            let loose = tests(&w.counts, floored, count, s.chi2_resolve_level, inflation);
            !loose.iter().any(Outcome::fired)
        };
        let statuses = self.alerts.judge(&verdict, w.last, &s, drift_clean);
        let counts: Vec<f64> = w.counts.iter().map(|&c| c as f64).collect();
        let window = (events, w.first, w.last);
        out.extend(self.alerts.signals(statuses, position, window, &counts, shift));
    }
}
