//! Unit tests of the core's pieces (`cargo test`, no Python): window boundaries, the alert
//! lifecycle, the rate and constant checks, normal scores, and the change-point detectors
//! behind their seam against river's detection indexes.

use crate::change_point::{Registration, Saved, DETECTORS};
use crate::checks::{constant_check, critical_count, rate_check};
use crate::judge::{Alerts, Clean, Lifecycle, Verdict};
use crate::numeric::{NumericCore, RangeCheck, Settings};
use crate::outcome::{Outcome, Severity, Test};
use crate::reference::{Reference, GRID_POINTS};
use crate::window::{Clock, Rows, Windows};

fn windows(window: usize, seconds: Option<f64>) -> Windows {
    Windows {
        window,
        window_seconds: seconds,
        min_window_values: 1,
        resolve_windows: 2,
        critical_shift: 1.0,
        alpha: 1e-4,
        resolve_alpha: 1e-3,
        chi2_level: 30.0,
        chi2_resolve_level: 25.0,
        missing: (0.5, 1000.5),
        type_errors: (0.5, 1000.5),
        missing_inflation: 1.0,
    }
}

fn settings(window: usize) -> Settings {
    Settings {
        windows: windows(window, None),
        warmup: 1000,
        adwin_delta: 0.002,
        ph_delta: 0.005,
        ph_threshold: 50.0,
        range: RangeCheck::Off,
    }
}

/// A reference of uniform values on [0, 1): quantiles i / 200, ten equal bins.
fn uniform_reference() -> Reference {
    let quantiles = (0..GRID_POINTS).map(|i| i as f64 / 200.0).collect();
    let edges = (1..10).map(|i| i as f64 / 10.0).collect();
    let probs = vec![0.1; 10];
    Reference::new(quantiles, 10_000.0, 0.5, 0.2887, edges, probs, 1e-4, 0.0, 1.0).unwrap()
}

/// The stream the pinned river indexes were computed on: a 997-periodic sawtooth in [0, 1),
/// up 0.8 from index 1000 and down again from 2000.
fn sawtooth(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = ((i * 7919) % 997) as f64 / 997.0;
            if (1000..2000).contains(&i) {
                x + 0.8
            } else {
                x
            }
        })
        .collect()
}

/// Detection indexes of a registered detector fed `values` in batches of `batch`.
fn detections(registration: &Registration, values: &[f64], batch: usize) -> Vec<usize> {
    let mut detector = (registration.build)(&settings(500));
    let mut found = Vec::new();
    let mut at = Vec::new();
    for (start, chunk) in values.chunks(batch).enumerate().map(|(i, c)| (i * batch, c)) {
        detector.update(chunk, &mut found);
        at.extend(found.drain(..).map(|d| start + d.index));
    }
    at
}

// Expected indexes from river 0.26.1, fed the same sawtooth one value at a time:
//   from river.drift import ADWIN, PageHinkley
//   a = ADWIN(delta=0.002, clock=32, min_window_length=5, grace_period=10)
//   p = PageHinkley(min_instances=30, delta=0.005, threshold=50.0, alpha=1.0, mode="both")
//   [i for i, x in enumerate(xs) if (a.update(x), a.drift_detected)[1]]  (likewise p)
const RIVER_ADWIN: [usize; 2] = [1023, 2047];
const RIVER_PAGE_HINKLEY: [usize; 2] = [1062, 2061];

#[test]
fn adwin_behind_the_seam_detects_where_river_does() {
    let values = sawtooth(3000);
    for batch in [1, 7, 3000] {
        assert_eq!(detections(&DETECTORS[0], &values, batch), RIVER_ADWIN);
    }
}

#[test]
fn page_hinkley_behind_the_seam_detects_where_river_does() {
    let values = sawtooth(3000);
    for batch in [1, 64, 3000] {
        assert_eq!(detections(&DETECTORS[1], &values, batch), RIVER_PAGE_HINKLEY);
    }
}

#[test]
fn registry_names_adwin_then_page_hinkley() {
    let names: Vec<_> = DETECTORS.iter().map(|r| (r.name, r.statistic)).collect();
    assert_eq!(names, [("adwin", "mean_shift_sd"), ("page_hinkley", "cusum_sd")]);
    for (i, r) in DETECTORS.iter().enumerate() {
        assert_eq!(Test::from_code(Test::Detector(r).code()), Some(Test::Detector(r)));
        assert_eq!(Test::Detector(&DETECTORS[i]).name(), r.name);
    }
}

#[test]
fn a_saved_detector_continues_as_if_never_stopped() {
    let values = sawtooth(3000);
    for registration in DETECTORS {
        let expected = detections(registration, &values, 3000);
        let mut first = (registration.build)(&settings(500));
        let mut found = Vec::new();
        first.update(&values[..1500], &mut found);
        let saved: Saved = first.save();
        let mut second = (registration.build)(&settings(500));
        second.load(&saved).unwrap();
        let before: Vec<usize> = found.iter().map(|d| d.index).collect();
        found.clear();
        second.update(&values[1500..], &mut found);
        let after = found.iter().map(|d| 1500 + d.index);
        assert_eq!(before.into_iter().chain(after).collect::<Vec<_>>(), expected);
        assert!(second.load(&Saved::Int(3)).is_err(), "{} took nonsense", registration.name);
    }
}

#[test]
fn calibration_raises_page_hinkleys_level_by_the_inflation() {
    let mut ph = (DETECTORS[1].build)(&settings(500));
    ph.calibrate(2.0);
    ph.update(&sawtooth(100), &mut Vec::new());
    assert_eq!(ph.running().map(|r| r.1), Some(100.0));
}

// The contributor guide's example: one module plus one registration runs in a series.
static WITH_EXAMPLE: &[Registration] =
    &[crate::adwin::DETECTOR, crate::page_hinkley::DETECTOR, crate::example_detector::DETECTOR];

#[test]
fn a_registered_detector_alerts_from_a_series() {
    let mut core =
        NumericCore::with_detectors(settings(500), uniform_reference(), 0.0, false, WITH_EXAMPLE);
    let values: Vec<f64> = (0..400).map(|i| 0.95 + (i % 5) as f64 * 0.01).collect();
    let (errors, times) = (vec![false; 400], (0..400).map(f64::from).collect::<Vec<_>>());
    let signals = core.update(&values, &errors, &times, Rows::new(None, 400).unwrap());
    let first = signals.iter().find(|s| s.firing).expect("a drift alert");
    assert_eq!(first.outcome.test.name(), "moving_mean");
    assert_eq!(first.outcome.test.statistic(), "mean_score");
    assert_eq!(first.position, 49); // the 50th value fills its window
    assert!(core.detector("moving_mean").is_some());
}

#[test]
fn the_guide_shows_the_example_detector_verbatim() {
    let guide = include_str!("../../docs/contributing-detectors.md");
    let source = include_str!("example_detector.rs");
    let begin = source.find("// guide: begin\n").unwrap() + "// guide: begin\n".len();
    let module = &source[begin..source.find("// guide: end").unwrap()];
    assert!(guide.contains(module), "docs/contributing-detectors.md differs from the example");
    let registration = "crate::page_hinkley::DETECTOR, crate::example_detector::DETECTOR]";
    assert!(guide.contains(registration), "the guide's registration line");
}

#[test]
fn count_windows_close_every_window_events() {
    let s = windows(3, None);
    let mut clock = Clock::default();
    let closes: Vec<bool> =
        (0..7).map(|i| clock.ends_with(&s) && !clock.ends_before(&s, i as f64)).collect();
    assert_eq!(closes, [false, false, true, false, false, true, false]);
}

#[test]
fn time_windows_close_before_the_first_event_past_their_end() {
    let s = windows(1000, Some(10.0));
    let mut clock = Clock::default();
    let before: Vec<bool> = [0.0, 5.0, 9.999, 10.0, 19.0, 20.5, 20.5]
        .iter()
        .map(|&t| clock.ends_before(&s, t))
        .collect();
    // The second window starts at the event that closed the first (10.0), so ends at 20.0.
    assert_eq!(before, [false, false, false, true, false, true, false]);
    assert!(!clock.ends_with(&s), "time windows never close by count");
}

#[test]
fn a_lifecycle_fires_folds_repeats_and_resolves_after_clean_windows() {
    let mut life = Lifecycle::default();
    assert!(!life.window_checked(true, 2), "not firing: nothing to resolve");
    assert!(life.detect(1.0, Severity::Critical));
    assert!(!life.detect(2.0, Severity::Warning), "a repeat folds into the firing alert");
    assert_eq!((life.detections, life.started_at, life.severity), (2, 1.0, Severity::Critical));
    assert!(!life.window_checked(true, 2));
    assert!(!life.window_checked(false, 2), "an unclean window restarts the count");
    assert!(!life.window_checked(true, 2));
    assert!(life.window_checked(true, 2));
    assert!(!life.firing && life.clean_windows == 0);
}

#[test]
fn a_window_verdict_fires_and_resolves_drift_and_checks() {
    static KEYS: [Test; 2] = [Test::Psi, Test::MissingRate];
    let s = windows(100, None);
    let mut alerts = Alerts::new(&KEYS);
    let drift = |value| Outcome { test: Test::Psi, value, threshold: 1.0 };
    let verdict = |value, missing| {
        let mut v =
            Verdict { drift: vec![drift(value)], quality: vec![], severity: Severity::Warning };
        v.rate(Test::MissingRate, missing, 100, s.missing, s.alpha, false);
        v
    };
    let statuses = alerts.judge(&verdict(2.0, 30), 1.0, &s, || true);
    let fired: Vec<(bool, usize)> = statuses.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(fired, [(true, 0), (true, 1)]);
    assert!(alerts.judge(&verdict(0.5, 0), 2.0, &s, || true).is_empty());
    let resolved: Vec<(bool, usize)> =
        alerts.judge(&verdict(0.5, 0), 3.0, &s, || true).iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(resolved, [(false, 0), (false, 1)]);
    assert_eq!(alerts.history.len(), 3);
    let _ = Clean::Known(true);
}

#[test]
fn critical_counts_are_scipys() {
    // scipy 1.17.1: int(betabinom.isf(alpha, n, a, b)) + 1
    assert_eq!(critical_count(100, 0.5, 1000.5, 1e-4), 4);
    assert_eq!(critical_count(1000, 10.5, 990.5, 1e-7), 48);
    assert_eq!(critical_count(500, 1.0, 100_000.0, 5e-5), 2);
    assert_eq!(critical_count(2, 0.5, 100_000.5, 1e-5), 2);
}

#[test]
fn a_rate_check_fires_above_its_critical_count() {
    let fired = |count| rate_check(Test::MissingRate, count, 100, 0.5, 1000.5, 1e-4).fired();
    assert!(!fired(3) && fired(4));
    let o = rate_check(Test::MissingRate, 3, 100, 0.5, 1000.5, 1e-4);
    assert_eq!((o.value, o.threshold), (0.03, 0.035));
}

#[test]
fn a_constant_window_fires_only_when_the_reference_makes_it_implausible() {
    assert!(constant_check(50, 0.0, 0.01, 1e-4).fired());
    assert!(!constant_check(50, 0.1, 0.01, 1e-4).fired(), "values vary");
    assert!(!constant_check(1, 0.0, 0.01, 1e-4).fired(), "one value is always constant");
    assert!(!constant_check(50, 0.0, 0.9, 1e-4).fired(), "0.9 ** 50 > 1e-4: plausible");
}

#[test]
fn normal_scores_are_mid_ranks_through_the_inverse_normal() {
    let r = uniform_reference();
    assert!(r.normal_score(0.5).abs() < 1e-12, "the median scores 0");
    assert!((r.normal_score(0.8413447460685429) - 1.0).abs() < 1e-9, "Phi(1) scores 1");
    assert!((r.normal_score(0.25) + r.normal_score(0.75)).abs() < 1e-12, "symmetric");
    // Beyond the reference: clipped half a rank from 0 and 1 (count 10,000).
    let edge = 0.5 / 10_001.0;
    assert_eq!(r.normal_score(-5.0), crate::stats::ndtri(edge));
    assert_eq!(r.normal_score(7.0), crate::stats::ndtri(1.0 - edge));
}
