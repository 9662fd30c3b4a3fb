//! What the Python classes over both series cores share: the signal record, the window
//! settings, and the lifecycles, history and latest window in saved state.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::judge::{Alerts, Lifecycle, Signal, HISTORY_WINDOWS};
use crate::outcome::{Outcome, Severity, Test};
use crate::py_settings::windows_checked;
use crate::state::{check, invalid, Fields, Writer};
use crate::window::{Clock, Windows};

/// A status change of one of a series' alerts, as `detector.series` turns it into a Signal.
#[pyclass(module = "detector._native", frozen, get_all)]
pub struct SignalRecord {
    /// Index in the batch (-1: a time window that ended with the previous batch).
    pub position: i64,
    pub firing: bool,
    /// The lifecycle: `drift` or a check's name.
    pub key: &'static str,
    /// The deciding test, check or detector.
    pub detector: &'static str,
    /// The statistic the alert reports: a change-point detector's own, else the test's name.
    pub statistic: &'static str,
    pub value: f64,
    pub threshold: f64,
    pub severity: &'static str,
    pub observed_at: f64,
    pub started_at: f64,
    pub detections: u64,
    /// Events of the window, or values the change-point estimate covers.
    pub count: u64,
    pub first: f64,
    pub last: f64,
    /// What the alert's `current` summary describes: values, or category counts.
    pub values: Py<PyArray1<f64>>,
    /// The size of the change (numeric: mean shift in reference standard deviations).
    pub shift: f64,
}

/// A lifecycle's name: `drift` for the first, else its check's.
pub fn key_name(keys: &[Test], key: usize) -> &'static str {
    if key == 0 {
        "drift"
    } else {
        keys[key].name()
    }
}

pub fn records(py: Python<'_>, signals: Vec<Signal>, keys: &[Test]) -> Vec<SignalRecord> {
    signals
        .into_iter()
        .map(|s| SignalRecord {
            position: s.position,
            firing: s.firing,
            key: key_name(keys, s.key),
            detector: s.outcome.test.name(),
            statistic: s.outcome.test.statistic(),
            value: s.outcome.value,
            threshold: s.outcome.threshold,
            severity: s.severity.name(),
            observed_at: s.observed_at,
            started_at: s.started_at,
            detections: s.detections,
            count: s.count,
            first: s.first,
            last: s.last,
            values: s.values.into_pyarray(py).unbind(),
            shift: s.shift,
        })
        .collect()
}

/// The read-only views metrics and the report use, for either core.
pub type LifecycleRow = (&'static str, bool, f64, &'static str, u64, u64);

pub fn lifecycle_rows(alerts: &Alerts) -> Vec<LifecycleRow> {
    alerts
        .lifecycles
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let name = key_name(alerts.keys, i);
            (name, l.firing, l.started_at, l.severity.name(), l.detections, l.clean_windows)
        })
        .collect()
}

pub fn window_rows(alerts: &Alerts) -> Vec<(&'static str, f64, f64)> {
    alerts.last_window.iter().map(|o| (o.test.name(), o.value, o.threshold)).collect()
}

pub fn history_rows(alerts: &Alerts) -> Vec<(f64, &'static str, f64, f64)> {
    alerts.history.iter().map(|(t, o)| (*t, o.test.name(), o.value, o.threshold)).collect()
}

/// A prior (a, b) of a rate check: both positive and finite.
pub fn prior(f: &Fields<'_>, key: &str) -> PyResult<(f64, f64)> {
    let (a, b): (f64, f64) = f.get(key)?;
    check(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite(), key)?;
    Ok((a, b))
}

pub fn windows_from(f: &Fields<'_>) -> PyResult<Windows> {
    let s = Windows {
        window: f.get::<usize>("window")?,
        window_seconds: f.optional_f64("window_seconds")?,
        min_window_values: f.get::<usize>("min_window_values")?,
        resolve_windows: f.u64("resolve_windows")?,
        critical_shift: f.finite("critical_shift")?,
        alpha: f.finite("alpha")?,
        resolve_alpha: f.finite("resolve_alpha")?,
        chi2_level: f.finite("chi2_level")?,
        chi2_resolve_level: f.finite("chi2_resolve_level")?,
        missing: prior(f, "missing")?,
        type_errors: prior(f, "type_errors")?,
        // Absent from snapshots older than the dependence calibration: independent.
        missing_inflation: f.optional_f64("missing_inflation")?.unwrap_or(1.0),
    };
    windows_checked(s)
}

pub fn windows_to(w: &Writer<'_>, s: &Windows) -> PyResult<()> {
    for (key, value) in [
        ("critical_shift", s.critical_shift),
        ("alpha", s.alpha),
        ("resolve_alpha", s.resolve_alpha),
        ("chi2_level", s.chi2_level),
        ("chi2_resolve_level", s.chi2_resolve_level),
    ] {
        w.set(key, value)?;
    }
    w.set("window", s.window)?;
    w.set("window_seconds", s.window_seconds)?;
    w.set("min_window_values", s.min_window_values)?;
    w.set("resolve_windows", s.resolve_windows)?;
    w.set("missing", s.missing)?;
    w.set("missing_inflation", s.missing_inflation)?;
    w.set("type_errors", s.type_errors)
}

/// The clock, lifecycles, history and latest window of a core's saved state.
pub fn alerts_to(w: &Writer<'_>, clock: &Clock, alerts: &Alerts) -> PyResult<()> {
    w.set("clock", (clock.filled, clock.started))?;
    w.set("lifecycles", lifecycles_to(w.py, &alerts.lifecycles)?)?;
    w.array("history_times", alerts.history.iter().map(|(t, _)| *t).collect())?;
    let history: Vec<Outcome> = alerts.history.iter().map(|(_, o)| *o).collect();
    outcomes_to(w, "history", &history)?;
    outcomes_to(w, "last", &alerts.last_window)
}

pub fn alerts_from(f: &Fields<'_>, windows: &Windows, alerts: &mut Alerts) -> PyResult<Clock> {
    let (filled, started): (usize, Option<f64>) = f.get("clock")?;
    check(filled < windows.window, "clock")?;
    lifecycles_from(&f.dict("lifecycles")?, &mut alerts.lifecycles)?;
    let times = f.array::<f64>("history_times")?;
    let history = outcomes_from(f, "history")?;
    check(history.len() == times.len() && history.len() <= HISTORY_WINDOWS, "history")?;
    alerts.history = times.into_iter().zip(history).collect();
    alerts.last_window = outcomes_from(f, "last")?;
    Ok(Clock { filled, started })
}

/// Optional counts of the latest tested window, checked against the number of cells.
pub fn counts_from(f: &Fields<'_>, key: &str, cells: usize) -> PyResult<Option<Vec<i64>>> {
    if f.any(key)?.is_none() {
        return Ok(None);
    }
    let counts = f.array::<i64>(key)?;
    check(counts.len() == cells && counts.iter().all(|&c| c >= 0), key)?;
    Ok(Some(counts))
}

pub fn counts_to(w: &Writer<'_>, key: &str, counts: &Option<Vec<i64>>) -> PyResult<()> {
    w.set(key, counts.clone().map(|c| c.into_pyarray(w.py)))
}

fn lifecycles_to<'py>(py: Python<'py>, lifecycles: &[Lifecycle]) -> PyResult<Bound<'py, PyDict>> {
    let w = Writer::new(py);
    w.list("firing", lifecycles.iter().map(|l| l.firing))?;
    w.array("started_at", lifecycles.iter().map(|l| l.started_at).collect())?;
    w.list("severity", lifecycles.iter().map(|l| l.severity.name()))?;
    w.array("detections", lifecycles.iter().map(|l| l.detections).collect())?;
    w.array("clean_windows", lifecycles.iter().map(|l| l.clean_windows).collect())?;
    Ok(w.finish())
}

fn lifecycles_from(f: &Fields<'_>, out: &mut [Lifecycle]) -> PyResult<()> {
    let firing: Vec<bool> = f.get("firing")?;
    let started = f.array::<f64>("started_at")?;
    let severity: Vec<String> = f.get("severity")?;
    let detections = f.array::<u64>("detections")?;
    let clean = f.array::<u64>("clean_windows")?;
    let n = out.len();
    check(
        [firing.len(), started.len(), severity.len(), detections.len(), clean.len()] == [n; 5],
        "lifecycles have the wrong length",
    )?;
    for (i, life) in out.iter_mut().enumerate() {
        let severity = match severity[i].as_str() {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            _ => return Err(invalid("lifecycle severity")),
        };
        *life = Lifecycle {
            firing: firing[i],
            started_at: started[i],
            severity,
            detections: detections[i],
            clean_windows: clean[i],
        };
    }
    Ok(())
}

fn outcomes_to(w: &Writer<'_>, prefix: &str, outcomes: &[Outcome]) -> PyResult<()> {
    w.array(&format!("{prefix}_tests"), outcomes.iter().map(|o| o.test.code()).collect())?;
    w.array(&format!("{prefix}_values"), outcomes.iter().map(|o| o.value).collect())?;
    w.array(&format!("{prefix}_thresholds"), outcomes.iter().map(|o| o.threshold).collect())
}

fn outcomes_from(f: &Fields<'_>, prefix: &str) -> PyResult<Vec<Outcome>> {
    let tests = f.array::<u8>(&format!("{prefix}_tests"))?;
    let values = f.array::<f64>(&format!("{prefix}_values"))?;
    let thresholds = f.array::<f64>(&format!("{prefix}_thresholds"))?;
    check(tests.len() == values.len() && values.len() == thresholds.len(), prefix)?;
    tests
        .iter()
        .zip(values.iter().zip(&thresholds))
        .map(|(&code, (&value, &threshold))| {
            let test = Test::from_code(code).ok_or_else(|| invalid(prefix))?;
            Ok(Outcome { test, value, threshold })
        })
        .collect()
}
