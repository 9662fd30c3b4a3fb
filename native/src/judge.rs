//! What numeric and categorical series share once a window closes: its verdict (drift tests,
//! quality checks) applied to the alert lifecycles, the drift report's history, and the latest
//! window's results for metrics.

use std::collections::VecDeque;

use crate::checks::rate_check;
use crate::outcome::{Outcome, Severity, Test};
use crate::window::Windows;

pub const HISTORY_WINDOWS: usize = 240; // closed windows' strongest test, for the drift report

/// How a quality check decides that its firing alert is clean again.
pub enum Clean {
    /// A fixed answer (the constant check: the values vary again).
    Known(bool),
    /// The same rate check at the resolve level (halved: a two-sided check's level per side).
    Rate { test: Test, count: u64, n: u64, a: f64, b: f64, halved: bool },
}

/// A closed window's tests and checks.
pub struct Verdict {
    pub drift: Vec<Outcome>,
    pub quality: Vec<(Outcome, Clean)>,
    pub severity: Severity, // of a drift alert this window would start
}

impl Verdict {
    /// Add a rate check: `count` of `n` against the prior `(a, b)`, at `alpha` (per side when
    /// `halved`, for a two-sided check).
    #[allow(clippy::too_many_arguments)]
    pub fn rate(
        &mut self,
        test: Test,
        count: u64,
        n: u64,
        (a, b): (f64, f64),
        alpha: f64,
        halved: bool,
    ) {
        let level = if halved { alpha / 2.0 } else { alpha };
        let outcome = rate_check(test, count, n, a, b, level);
        self.quality.push((outcome, Clean::Rate { test, count, n, a, b, halved }));
    }
}

/// A status change: (firing, lifecycle index, the deciding outcome).
pub type Status = (bool, usize, Outcome);

/// A status change of one of a series' alerts, with what its summaries are built from.
#[derive(Clone, Debug)]
pub struct Signal {
    pub position: i64, // index in the batch (-1: a time window that ended with the last batch)
    pub firing: bool,
    pub key: usize, // index of the lifecycle (0: drift)
    pub outcome: Outcome,
    pub severity: Severity,
    pub observed_at: f64,
    pub started_at: f64,
    pub detections: u64,
    pub count: u64, // events of the window, or values the change-point estimate covers
    pub first: f64,
    pub last: f64,
    pub values: Vec<f64>, // what `current` summarises: values, or category counts
    pub shift: f64,       // the size of the change (numeric: mean shift in reference sd)
}

impl Alerts {
    /// The window's status changes as signals.
    pub fn signals(
        &self,
        statuses: Vec<Status>,
        position: i64,
        window: (u64, f64, f64),
        values: &[f64],
        shift: f64,
    ) -> impl Iterator<Item = Signal> + '_ {
        let (count, first, last) = window;
        let values = values.to_vec();
        statuses.into_iter().map(move |(firing, key, outcome)| {
            let life = &self.lifecycles[key];
            Signal {
                position,
                firing,
                key,
                outcome,
                severity: life.severity,
                observed_at: last,
                started_at: life.started_at,
                detections: life.detections,
                count,
                first,
                last,
                values: values.clone(),
                shift,
            }
        })
    }
}

/// Lifecycles (one per key; the first is drift), window history and the last window.
#[derive(Clone, Debug)]
pub struct Alerts {
    pub keys: &'static [Test],
    pub lifecycles: Vec<Lifecycle>,
    pub history: VecDeque<(f64, Outcome)>,
    pub last_window: Vec<Outcome>,
}

impl Alerts {
    pub fn new(keys: &'static [Test]) -> Self {
        Alerts {
            keys,
            lifecycles: vec![Lifecycle::default(); keys.len()],
            history: VecDeque::new(),
            last_window: Vec::new(),
        }
    }

    /// The lifecycle a check's alert lives in (drift tests all share the first).
    pub fn key_of(&self, test: Test) -> usize {
        self.keys.iter().position(|&k| k == test).unwrap_or(0)
    }

    /// A change-point detection: folded into a firing drift alert, or starting one.
    pub fn detect(&mut self, when: f64, severity: Severity) -> bool {
        self.lifecycles[0].detect(when, severity)
    }

    /// Apply a closed window's verdict. `drift_clean` (the resolve-level drift verdict) is
    /// only computed while the drift alert fires.
    pub fn judge(
        &mut self,
        verdict: &Verdict,
        observed_at: f64,
        windows: &Windows,
        drift_clean: impl FnOnce() -> bool,
    ) -> Vec<Status> {
        let (resolve_alpha, resolve_windows) = (windows.resolve_alpha, windows.resolve_windows);
        let mut statuses = Vec::new();
        let drift = &verdict.drift;
        self.last_window =
            drift.iter().copied().chain(verdict.quality.iter().map(|q| q.0)).collect();
        if let Some(strongest) = strongest(drift) {
            if self.history.len() == HISTORY_WINDOWS {
                self.history.pop_front();
            }
            self.history.push_back((observed_at, strongest));
        }
        if let Some(fired) = drift.iter().find(|o| o.fired()) {
            if self.lifecycles[0].detect(observed_at, verdict.severity) {
                statuses.push((true, 0, *fired));
            }
        } else if !drift.is_empty()
            && self.lifecycles[0].firing
            && self.lifecycles[0].window_checked(drift_clean(), resolve_windows)
        {
            statuses.push((false, 0, drift[0]));
        }
        for (outcome, clean) in &verdict.quality {
            let key = self.key_of(outcome.test);
            let life = &mut self.lifecycles[key];
            if outcome.fired() {
                let severity = match outcome.test {
                    Test::TypeErrors | Test::Constant => Severity::Critical,
                    _ => Severity::Warning,
                };
                if life.detect(observed_at, severity) {
                    statuses.push((true, key, *outcome));
                }
            } else if life.firing {
                let consistent = match *clean {
                    Clean::Known(value) => value,
                    Clean::Rate { test, count, n, a, b, halved } => {
                        let level = if halved { resolve_alpha / 2.0 } else { resolve_alpha };
                        !rate_check(test, count, n, a, b, level).fired()
                    }
                };
                if life.window_checked(consistent, resolve_windows) {
                    statuses.push((false, key, *outcome));
                }
            }
        }
        statuses
    }
}

/// The test furthest above its threshold (the first of equals, as Python's `max`).
pub fn strongest(outcomes: &[Outcome]) -> Option<Outcome> {
    let mut best = *outcomes.first()?;
    let mut ratio = best.value / best.threshold;
    for o in &outcomes[1..] {
        let r = o.value / o.threshold;
        if r > ratio {
            best = *o;
            ratio = r;
        }
    }
    Some(best)
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
