//! A numeric series once it has its reference: every value's normal score, ADWIN and
//! Page-Hinkley on the scores, tumbling windows with their tests and checks, and the lifecycles.
//!
//! This is `detector.series.numeric.NumericSeries` minus its warm-up and alert formatting,
//! value by value: only status changes (firing, resolved) go back to Python. Everything depends
//! on the order of the series' events alone, never on how they were cut into batches.

use std::collections::VecDeque;

use crate::binned_tests::Bins;
use crate::change_point::{ChangeDetector, Detection, Registration, DETECTORS};
use crate::checks::constant_check;
use crate::judge::{Alerts, Clean, Signal, Verdict};
use crate::outcome::{Outcome, Severity, Test};
use crate::reference::Reference;
use crate::sketch::Totals;
use crate::stats::{
    batch_means_inflation, dependence, equivalent_dependence, mean, values_since_change,
    LEAST_BLOCKS,
};
use crate::window::{Clock, Counts, Rows, Windows};

const CHANGE_LEAST: usize = 10; // values_since_change's floor
const MATERIAL: f64 = 2.0; // standard errors a change point's mean score must move (see material)

/// The lifecycles of a numeric series: drift (filed under its first test), then the checks.
pub const KEYS: [Test; 5] =
    [Test::Psi, Test::MissingRate, Test::TypeErrors, Test::OutOfRange, Test::Constant];

/// Values beyond the range: against configured bounds (a rate check of values outside, the
/// reference taken as all inside), or against the extremes of a large reference (each side).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeCheck {
    Off,
    Bounds { a: f64, b: f64 },
    Beyond { reference: f64 },
}

/// Settings of one numeric series, fixed at its start (config, test level, reference priors).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub windows: Windows,
    pub warmup: usize, // live scores the dependence is learnt from (baseline references)
    pub adwin_delta: f64,
    pub ph_delta: f64,
    pub ph_threshold: f64,
    pub range: RangeCheck,
}

/// The open tumbling window.
#[derive(Clone, Debug, Default)]
pub struct OpenWindow {
    pub seen: Counts,
    pub above: u64,
    pub below: u64,
    pub counts: Vec<i64>,
    pub values: Vec<f64>,
    pub scores: Vec<f64>,
    pub first: f64,
    pub last: f64,
}

impl OpenWindow {
    fn new(bins: usize) -> Self {
        OpenWindow { counts: vec![0; bins], first: f64::NAN, last: f64::NAN, ..Default::default() }
    }

    /// Empty again, keeping the buffers' capacity (a window's values are read at its close).
    fn clear(&mut self) {
        self.seen = Counts::default();
        (self.above, self.below) = (0, 0);
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.values.clear();
        self.scores.clear();
        (self.first, self.last) = (f64::NAN, f64::NAN);
    }
}

/// The newest `capacity` values as (value, score, event time), oldest first.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    pub capacity: usize,
    pub values: VecDeque<(f64, f64, f64)>,
}

impl Recent {
    #[inline]
    fn push(&mut self, x: f64, z: f64, t: f64) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back((x, z, t));
    }

    /// The newest `count`, oldest first.
    fn newest(&self, count: usize) -> impl Iterator<Item = &(f64, f64, f64)> + '_ {
        self.values.iter().skip(self.values.len() - count)
    }

    pub fn scores(&self) -> Vec<f64> {
        self.values.iter().map(|v| v.1).collect()
    }
}

/// The means of the first LEAST_BLOCKS windows of scores after the reference: their spread is
/// the dependence at the window's scale that a 1,000-value warm-up cannot see (a rate that
/// wanders over thousands of events).
#[derive(Clone, Debug, Default)]
pub struct Learning {
    pub blocks: Vec<f64>,
    pub sum: f64,
    pub count: usize,
}

#[derive(Clone, Debug)]
pub struct NumericCore {
    pub settings: Settings,
    pub reference: Reference,
    pub bins: Bins,
    /// The registered change-point detectors (`change_point`), in their registry's order.
    pub registry: &'static [Registration],
    pub detectors: Vec<Box<dyn ChangeDetector>>,
    found: Vec<Detection>, // a score's detections (reused)
    pub dependence: f64,
    pub inflation: f64,
    pub live: Option<Vec<f64>>, // first live scores, while their dependence is being learned
    pub learn: Option<Learning>, // block means of the first windows' scores (see learn_blocks)
    pub clock: Clock,
    pub open: OpenWindow,
    pub recent: Recent,
    pub alerts: Alerts,
    pub last_counts: Option<Vec<i64>>,
    pub totals: Totals,
    pub seen: Counts, // every event since the reference
    /// Positions of the next update at which a configured (Python) detector detected, in
    /// order: set just before that update, never saved (see `detector.detectors.plugins`).
    pub hits: VecDeque<i64>,
}

impl NumericCore {
    pub fn new(settings: Settings, reference: Reference, dependence: f64, learn: bool) -> Self {
        Self::with_detectors(settings, reference, dependence, learn, DETECTORS)
    }

    /// A core that runs the detectors of `registry` (tests register more).
    pub fn with_detectors(
        settings: Settings,
        reference: Reference,
        dependence: f64,
        learn: bool,
        registry: &'static [Registration],
    ) -> Self {
        let bins = Bins::new(&reference.probs, &reference.edges);
        let k = reference.probs.len();
        let mut core = NumericCore {
            registry,
            detectors: registry.iter().map(|r| (r.build)(&settings)).collect(),
            found: Vec::new(),
            dependence: 0.0,
            inflation: 1.0,
            live: if learn { Some(Vec::new()) } else { None },
            learn: Some(Learning::default()),
            clock: Clock::default(),
            open: OpenWindow::new(k),
            recent: Recent {
                capacity: settings.windows.window,
                values: VecDeque::with_capacity(settings.windows.window),
            },
            alerts: Alerts::new(&KEYS),
            last_counts: None,
            totals: Totals::new(k),
            seen: Counts::default(),
            hits: VecDeque::new(),
            settings,
            reference,
            bins,
        };
        core.set_dependence(dependence);
        core
    }

    /// Calibrate for dependence: window means vary `(1 + phi) / (1 - phi)` times more than
    /// independent values' (`phi` is the AR(1)-equivalent of the inflation measured at the
    /// window's scale, `stats::dependence`), so window-test thresholds scale by that, and
    /// each change-point detector calibrates its own level (Page-Hinkley's scales by the
    /// factor; ADWIN's delta becomes `delta ** factor` and it starts afresh).
    pub fn set_dependence(&mut self, phi: f64) {
        self.dependence = phi;
        self.inflation = (1.0 + phi) / (1.0 - phi);
        for detector in &mut self.detectors {
            detector.calibrate(self.inflation);
        }
    }

    /// The registered detector called `name`, if it runs here.
    pub fn detector(&self, name: &str) -> Option<&dyn ChangeDetector> {
        let at = self.registry.iter().position(|r| r.name == name)?;
        Some(self.detectors[at].as_ref())
    }

    fn severity(&self, shift: f64) -> Severity {
        if shift.abs() >= self.settings.windows.critical_shift {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }

    fn shift_of(&self, values: &[f64]) -> f64 {
        let scale = if self.reference.std > 0.0 { self.reference.std } else { 1.0 };
        (mean(values) - self.reference.mean) / scale
    }

    /// Feed the series' events of a batch (NaN = missing); the status changes, in order.
    pub fn update(
        &mut self,
        values: &[f64],
        errors: &[bool],
        times: &[f64],
        rows: Rows<'_>,
    ) -> Vec<Signal> {
        let mut out = Vec::new();
        let windows = self.settings.windows;
        for p in 0..rows.len() {
            let i = rows.at(p);
            let (x, error, t) = (values[i], errors[i], times[i]);
            let p = p as i64;
            if self.clock.ends_before(&windows, t) {
                self.close(p - 1, &mut out);
            }
            self.seen.add(error, x.is_nan());
            let w = &mut self.open;
            w.seen.add(error, x.is_nan());
            if w.first.is_nan() {
                w.first = t;
            }
            w.last = t;
            if !x.is_nan() {
                self.value(x, t, p, &mut out);
            }
            if self.clock.ends_with(&windows) {
                self.close(p, &mut out);
            }
        }
        self.hits.clear(); // hits are for this update only
        out
    }

    /// One present value: score, window, recent values, dependence, change-point detectors.
    #[inline]
    fn value(&mut self, x: f64, t: f64, p: i64, out: &mut Vec<Signal>) {
        let reference = &self.reference;
        let z = reference.normal_score(x);
        let w = &mut self.open;
        w.counts[reference.bin(x)] += 1;
        if x > reference.high {
            w.above += 1;
        }
        if x < reference.low {
            w.below += 1;
        }
        w.values.push(x);
        w.scores.push(z);
        self.recent.push(x, z, t);
        if let Some(live) = &mut self.live {
            live.push(z);
            if live.len() == self.settings.warmup {
                let phi = dependence(live, self.settings.windows.window);
                self.live = None;
                if phi > self.dependence {
                    self.set_dependence(phi);
                }
            }
        }
        if self.learn.is_some() {
            self.learn_blocks(z);
        }
        let mut found = std::mem::take(&mut self.found);
        for (at, registration) in self.registry.iter().enumerate() {
            self.detectors[at].update(std::slice::from_ref(&z), &mut found);
            for d in found.drain(..) {
                let test = Test::Detector(registration);
                self.change_point(test, d.statistic, d.level, d.since, t, p, out);
            }
        }
        self.found = found;
        if self.hits.front() == Some(&p) {
            // A configured detector's detection, described as ADWIN's is.
            self.hits.pop_front();
            self.change_point(Test::Plugin, 1.0, 1.0, None, t, p, out);
        }
    }

    /// One more score of the first LEAST_BLOCKS windows; after the last, raise the dependence
    /// to what their means show (scores have variance 1) when that is clearly more, unless a
    /// drift alert fires: a change in those windows must not pass for dependence.
    fn learn_blocks(&mut self, z: f64) {
        let window = self.settings.windows.window;
        let Some(learn) = &mut self.learn else { return };
        learn.sum += z;
        learn.count += 1;
        if learn.count < window {
            return;
        }
        learn.blocks.push(learn.sum / learn.count as f64);
        (learn.sum, learn.count) = (0.0, 0);
        if learn.blocks.len() < LEAST_BLOCKS {
            return;
        }
        let found = batch_means_inflation(&learn.blocks, window, 1.0, true).unwrap_or(1.0);
        self.learn = None;
        // Only beyond the noise of a variance ratio of 20 blocks: a max of two estimates of
        // the same factor would overstate it.
        let noise = (2.0 / (LEAST_BLOCKS - 1) as f64).sqrt();
        if found > self.inflation * (1.0 + 2.0 * noise) && !self.alerts.lifecycles[0].firing {
            self.set_dependence(equivalent_dependence(found));
        }
    }

    /// A change-point detector (built-in or configured) detected at this value: describe the change from the values
    /// since its estimated start (at most one window), fold it into the drift alert.
    #[allow(clippy::too_many_arguments)]
    fn change_point(
        &mut self,
        test: Test,
        statistic: f64,
        threshold: f64,
        since: Option<usize>,
        t: f64,
        p: i64,
        out: &mut Vec<Signal>,
    ) {
        let available = self.recent.values.len();
        let since =
            since.unwrap_or_else(|| values_since_change(&self.recent.scores(), CHANGE_LEAST));
        let count = since.min(self.settings.windows.window).min(available).max(1);
        // A configured detector may watch more than the mean (KSWIN sees a change of spread):
        // its own level decides, not the mean's materiality.
        if test != Test::Plugin && !self.material(count) {
            return;
        }
        let values: Vec<f64> = self.recent.newest(count).map(|v| v.0).collect();
        let first = self.recent.newest(count).next().map_or(t, |v| v.2);
        let shift = self.shift_of(&values);
        let severity = self.severity(shift);
        if !self.alerts.detect(t, severity) {
            return;
        }
        let life = &self.alerts.lifecycles[0];
        let value = if statistic.is_nan() { shift.abs() } else { statistic };
        out.push(Signal {
            position: p,
            firing: true,
            key: 0,
            outcome: Outcome { test, value, threshold },
            severity: life.severity,
            observed_at: t,
            started_at: life.started_at,
            detections: life.detections,
            count: count as u64,
            first,
            last: t,
            values,
            shift,
        });
    }

    /// Whether the newest `count` scores moved away from the reference by more than the noise
    /// of their own mean (MATERIAL standard errors, dependence included). A detector that
    /// fires on a blip of noise would page with "mean 10.01 -> 10.01": such a detection is
    /// dropped (it neither fires nor folds into a firing alert).
    fn material(&self, count: usize) -> bool {
        let scores: Vec<f64> = self.recent.newest(count).map(|v| v.1).collect();
        let error = (self.inflation / count as f64 + 1.0 / self.reference.count).sqrt();
        mean(&scores).abs() >= MATERIAL * error
    }

    /// Close the open window at batch position `position`: tests, checks, lifecycles.
    fn close(&mut self, position: i64, out: &mut Vec<Signal>) {
        if self.open.seen.events == 0 {
            return;
        }
        let mut w = std::mem::take(&mut self.open);
        self.judge_window(position, &w, out);
        w.clear();
        self.open = w;
    }

    fn judge_window(&mut self, position: i64, w: &OpenWindow, out: &mut Vec<Signal>) {
        let (s, reference) = (self.settings.windows, &self.reference);
        let n = w.values.len() as u64;
        self.totals.add_window(&w.values, &w.counts);
        let shift = if n > 0 { self.shift_of(&w.values) } else { 0.0 };
        let mut verdict =
            Verdict { drift: Vec::new(), quality: Vec::new(), severity: self.severity(shift) };
        let tests = |chi2: f64, alpha: f64| {
            let (std, count) = (reference.std, reference.count);
            self.bins.tests(&w.counts, std, chi2, alpha, count, self.inflation)
        };
        if n >= s.min_window_values as u64 {
            self.last_counts = Some(w.counts.clone());
            verdict.drift = tests(s.chi2_level, s.alpha);
            let low = w.values.iter().copied().fold(f64::INFINITY, f64::min);
            let high = w.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let check = constant_check(n, high - low, reference.mode_share, s.alpha);
            verdict.quality.push((check, Clean::Known(high - low > 0.0)));
        }
        let events = w.seen.events;
        let (missing, missing_events) = s.missing_counts(w.seen.missing, events);
        let rates = [
            (Test::MissingRate, missing, missing_events, s.missing, false),
            (Test::TypeErrors, w.seen.errors, events, s.type_errors, false),
        ];
        // Values beyond the reference's extremes come in runs when values are dependent: that
        // check counts them at the effective sample size (counts divided by the inflation).
        // Configured bounds are a contract, not a distribution: every value counts.
        let effective = |count: u64| (count as f64 / self.inflation).round() as u64;
        let range = match self.settings.range {
            _ if n == 0 => None,
            RangeCheck::Off => None,
            RangeCheck::Bounds { a, b } => {
                Some((Test::OutOfRange, w.above + w.below, n, (a, b), false))
            }
            // Each side against the reference's extremes at half the level.
            RangeCheck::Beyond { reference } => {
                let count = effective(w.above.max(w.below));
                Some((Test::OutOfRange, count, effective(n).max(1), (1.0, reference), true))
            }
        };
        for (test, count, events, prior, halved) in rates.into_iter().chain(range) {
            verdict.rate(test, count, events, prior, s.alpha, halved);
        }
        let noise = 3.0 * ((1.0 / n as f64 + 1.0 / reference.count) * self.inflation).sqrt();
        let drift_clean = || {
            let loose = tests(s.chi2_resolve_level, s.resolve_alpha);
            !loose.iter().any(Outcome::fired) && mean(&w.scores).abs() < noise
        };
        let statuses = self.alerts.judge(&verdict, w.last, &s, drift_clean);
        let window = (events, w.first, w.last);
        out.extend(self.alerts.signals(statuses, position, window, &w.values, shift));
    }
}
