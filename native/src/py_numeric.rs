//! `NumericCore`, the Python class over [`crate::numeric::NumericCore`]: construction from the
//! settings and reference Python computes, batch updates, read-only views for metrics and the
//! report, and `to_state` / `from_state` for snapshots.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::numeric::{self, Learning, RangeCheck, Settings, KEYS};
use crate::py_batch::NumericInput;
use crate::py_series::{
    alerts_from, alerts_to, counts_from, counts_to, history_rows, lifecycle_rows, records,
    window_rows, windows_from, windows_to, LifecycleRow, SignalRecord,
};
use crate::py_settings::{numeric_checked, range_check, NumericSettings};
use crate::reference::Reference;
use crate::sketch::{DenseStore, Moments, QuantileSketch, Totals};
use crate::state::{check, invalid, saved_from, saved_to, Fields, Writer};
use crate::stats::LEAST_BLOCKS;
use crate::window::Counts;

/// One numeric series after its warm-up (see `detector.series.numeric`).
#[pyclass(module = "detector._native")]
pub struct NumericCore {
    pub(crate) core: numeric::NumericCore,
}

/// Settings as saved state holds them (a dict), through the checks `NumericSettings` runs.
fn settings_from(f: &Fields<'_>) -> PyResult<Settings> {
    let (kind, a, b): (String, f64, f64) = f.get("range")?;
    numeric_checked(Settings {
        windows: windows_from(f)?,
        warmup: f.get::<usize>("warmup")?,
        adwin_delta: f.finite("adwin_delta")?,
        ph_delta: f.finite("ph_delta")?,
        ph_threshold: f.finite("ph_threshold")?,
        range: range_check(&kind, a, b)?,
    })
}

fn settings_to<'py>(py: Python<'py>, s: &Settings) -> PyResult<Bound<'py, PyDict>> {
    let w = Writer::new(py);
    windows_to(&w, &s.windows)?;
    w.set("warmup", s.warmup)?;
    w.set("adwin_delta", s.adwin_delta)?;
    w.set("ph_delta", s.ph_delta)?;
    w.set("ph_threshold", s.ph_threshold)?;
    match s.range {
        RangeCheck::Off => w.set("range", ("off", 0.0, 0.0))?,
        RangeCheck::Bounds { a, b } => w.set("range", ("bounds", a, b))?,
        RangeCheck::Beyond { reference } => w.set("range", ("beyond", 1.0, reference))?,
    }
    Ok(w.finish())
}

fn reference_from(f: &Fields<'_>) -> PyResult<Reference> {
    Reference::new(
        f.array::<f64>("quantiles")?, // overflowing data can give infinite quantiles and moments
        f.finite("count")?,
        f.f64("mean")?,
        f.f64("std")?,
        f.array::<f64>("edges")?,
        f.finite_array("probs")?,
        f.finite("mode_share")?,
        f.f64("low")?,
        f.f64("high")?,
    )
    .map_err(|e| invalid(&e))
}

fn reference_to<'py>(py: Python<'py>, r: &Reference) -> PyResult<Bound<'py, PyDict>> {
    let w = Writer::new(py);
    w.array("quantiles", r.quantiles.clone())?;
    w.set("count", r.count)?;
    w.set("mean", r.mean)?;
    w.set("std", r.std)?;
    w.array("edges", r.edges.clone())?;
    w.array("probs", r.probs.clone())?;
    w.set("mode_share", r.mode_share)?;
    w.set("low", r.low)?;
    w.set("high", r.high)?;
    Ok(w.finish())
}

fn totals_to<'py>(py: Python<'py>, t: &Totals) -> PyResult<Bound<'py, PyDict>> {
    let w = Writer::new(py);
    let m = &t.moments;
    w.set("moments", (m.count, m.mean, m.m2, m.min, m.max))?;
    w.array("histogram", t.histogram.clone())?;
    let q = &t.quantiles;
    for (sign, store) in [("positive", &q.positive), ("negative", &q.negative)] {
        let (keys, counts): (Vec<i64>, Vec<u64>) = store.buckets().unzip();
        w.array(&format!("{sign}_keys"), keys)?;
        w.array(&format!("{sign}_counts"), counts)?;
    }
    w.set("zeros", q.zeros)?;
    Ok(w.finish())
}

fn totals_from(f: &Fields<'_>, bins: usize) -> PyResult<Totals> {
    let (count, mean, m2, min, max): (u64, f64, f64, f64, f64) = f.get("moments")?;
    let histogram = f.array::<i64>("histogram")?;
    check(histogram.len() == bins && histogram.iter().all(|&c| c >= 0), "totals histogram")?;
    let store = |keys: &str, counts: &str| -> PyResult<DenseStore> {
        let (k, c) = (f.array::<i64>(keys)?, f.array::<u64>(counts)?);
        DenseStore::from_buckets(&k, &c).ok_or_else(|| invalid(keys))
    };
    Ok(Totals {
        moments: Moments { count, mean, m2, min, max },
        histogram,
        quantiles: QuantileSketch {
            positive: store("positive_keys", "positive_counts")?,
            negative: store("negative_keys", "negative_counts")?,
            zeros: f.u64("zeros")?,
        },
    })
}

#[pymethods]
impl NumericCore {
    /// `settings` and `reference` are dicts with the keys `to_state` writes under those names.
    #[new]
    fn new(
        settings: PyRef<'_, NumericSettings>,
        reference: &Bound<'_, PyAny>,
        dependence: f64,
        learn_dependence: bool,
    ) -> PyResult<Self> {
        let settings = settings.inner;
        let reference = reference_from(&Fields::new(reference)?)?;
        check((0.0..1.0).contains(&dependence), "dependence")?;
        Ok(NumericCore {
            core: numeric::NumericCore::new(settings, reference, dependence, learn_dependence),
        })
    }

    /// Feed a batch's columns (NaN = missing) at the series' `rows` (default: every row); the
    /// alerts' status changes, in stream order.
    #[pyo3(signature = (values, errors, times, rows=None))]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
        errors: PyReadonlyArray1<'py, bool>,
        times: PyReadonlyArray1<'py, f64>,
        rows: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Vec<SignalRecord>> {
        let arrays = (values, errors, times, rows);
        let input = NumericInput::new(&arrays)?;
        let core = &mut self.core;
        let signals = py.detach(|| input.run(core))?;
        Ok(records(py, signals, &KEYS))
    }

    /// The positions (in the next `update`'s rows, increasing, at present values) where a
    /// configured detector running in Python detected; they take part in that update only.
    fn set_hits(&mut self, positions: PyReadonlyArray1<'_, i64>) -> PyResult<()> {
        let positions = positions.as_slice()?;
        check(positions.windows(2).all(|w| w[0] < w[1]), "hits in increasing order")?;
        check(positions.first().is_none_or(|&p| p >= 0), "hits at positions >= 0")?;
        self.core.hits = positions.iter().copied().collect();
        Ok(())
    }

    /// The normal scores of `values` (present ones) against this core's reference: what ADWIN
    /// and Page-Hinkley are fed, for the configured detectors.
    fn normal_scores<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let reference = &self.core.reference;
        let scores: Vec<f64> =
            values.as_slice()?.iter().map(|&v| reference.normal_score(v)).collect();
        Ok(scores.into_pyarray(py))
    }

    /// (events, missing, type errors) fed so far.
    fn counters(&self) -> (u64, u64, u64) {
        (self.core.seen.events, self.core.seen.missing, self.core.seen.errors)
    }

    /// (key, firing, started_at, severity, detections, clean_windows) per alert key.
    fn lifecycles(&self) -> Vec<LifecycleRow> {
        lifecycle_rows(&self.core.alerts)
    }

    /// The latest closed window's tests and checks: (name, value, threshold).
    fn last_window(&self) -> Vec<(&'static str, f64, f64)> {
        window_rows(&self.core.alerts)
    }

    /// (event time, name, value, threshold) of the strongest test of each recent window.
    fn history(&self) -> Vec<(f64, &'static str, f64, f64)> {
        history_rows(&self.core.alerts)
    }

    /// The latest tested window's bin counts.
    fn last_counts<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i64>>> {
        self.core.last_counts.clone().map(|c| c.into_pyarray(py))
    }

    /// Page-Hinkley's running value and threshold (None right after a reset).
    fn cusum(&self) -> Option<(f64, f64)> {
        self.core.detector("page_hinkley").and_then(|d| d.running())
    }

    /// The newest scores (at most one window), oldest first.
    fn recent_scores<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.core.recent.scores().into_pyarray(py)
    }

    /// All values since the reference: (count, mean, std, min, max, values at `quantiles`).
    fn totals(&self, quantiles: Vec<f64>) -> (u64, f64, f64, f64, f64, Vec<f64>) {
        let (m, sketch) = (&self.core.totals.moments, &self.core.totals.quantiles);
        let std = if m.count > 1 { (m.m2 / (m.count - 1) as f64).sqrt() } else { 0.0 };
        let at = quantiles.iter().map(|&q| sketch.quantile(q)).collect();
        (m.count, m.mean, std, m.min, m.max, at)
    }

    #[getter]
    fn dependence(&self) -> f64 {
        self.core.dependence
    }

    fn to_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.core;
        let w = Writer::new(py);
        w.set("settings", settings_to(py, &c.settings)?)?;
        w.set("reference", reference_to(py, &c.reference)?)?;
        for (registration, detector) in c.registry.iter().zip(&c.detectors) {
            w.set(registration.name, saved_to(py, &detector.save())?)?;
        }
        w.set("dependence", c.dependence)?;
        w.set("live", c.live.clone().map(|l| l.into_pyarray(py)))?;
        w.set("learn_blocks", c.learn.as_ref().map(|l| l.blocks.clone().into_pyarray(py)))?;
        w.set("learn_open", c.learn.as_ref().map(|l| (l.sum, l.count)))?;
        let o = &c.open;
        let seen = o.seen;
        w.set("open", (seen.events, seen.missing, seen.errors, o.above, o.below, o.first, o.last))?;
        w.array("open_counts", o.counts.clone())?;
        w.array("open_values", o.values.clone())?;
        w.array("open_scores", o.scores.clone())?;
        let recent = &c.recent.values;
        w.array("recent_raw", recent.iter().map(|v| v.0).collect())?;
        w.array("recent_scores", recent.iter().map(|v| v.1).collect())?;
        w.array("recent_times", recent.iter().map(|v| v.2).collect())?;
        alerts_to(&w, &c.clock, &c.alerts)?;
        counts_to(&w, "last_counts", &c.last_counts)?;
        w.set("totals", totals_to(py, &c.totals)?)?;
        w.set("counters", (c.seen.events, c.seen.missing, c.seen.errors))?;
        Ok(w.finish())
    }

    #[staticmethod]
    fn from_state(state: &Bound<'_, PyAny>) -> PyResult<NumericCore> {
        let f = Fields::new(state)?;
        let settings = settings_from(&f.dict("settings")?)?;
        let reference = reference_from(&f.dict("reference")?)?;
        let k = reference.probs.len();
        let dependence = f.finite("dependence")?;
        check((0.0..1.0).contains(&dependence), "dependence")?;
        let mut c = numeric::NumericCore::new(settings, reference, dependence, false);
        for (registration, detector) in c.registry.iter().zip(&mut c.detectors) {
            let saved = saved_from(&f.any(registration.name)?)?;
            detector.load(&saved).map_err(|e| invalid(&format!("{}: {e}", registration.name)))?;
        }
        c.live = f.optional_array("live")?;
        check(c.live.as_ref().is_none_or(|l| l.len() < settings.warmup), "live")?;
        // Absent from snapshots older than block learning: learnt nothing more.
        c.learn = match f.optional_array("learn_blocks")? {
            None => None,
            Some(blocks) => {
                let (sum, count): (f64, usize) = f.get("learn_open")?;
                let window = settings.windows.window;
                check(blocks.len() < LEAST_BLOCKS && count < window && sum.is_finite(), "learn")?;
                Some(Learning { blocks, sum, count })
            }
        };
        type Open = (u64, u64, u64, u64, u64, f64, f64);
        let (events, missing, errors, above, below, first, last): Open = f.get("open")?;
        let o = &mut c.open;
        o.seen = Counts { events, missing, errors };
        (o.above, o.below) = (above, below);
        (o.first, o.last) = (first, last);
        o.counts = f.array::<i64>("open_counts")?;
        o.values = f.finite_array("open_values")?;
        o.scores = f.finite_array("open_scores")?;
        check(
            o.counts.len() == k
                && o.counts.iter().all(|&c| c >= 0)
                && o.values.len() == o.scores.len()
                && o.counts.iter().sum::<i64>() == o.values.len() as i64
                && o.values.len() as u64 <= events
                && missing + errors <= events,
            "open window",
        )?;
        let raw = f.finite_array("recent_raw")?;
        let scores = f.finite_array("recent_scores")?;
        let times = f.array::<f64>("recent_times")?;
        let window = settings.windows.window;
        check(
            raw.len() == scores.len() && raw.len() == times.len() && raw.len() <= window,
            "recent",
        )?;
        c.recent.values =
            raw.into_iter().zip(scores).zip(times).map(|((x, z), t)| (x, z, t)).collect();
        c.clock = alerts_from(&f, &settings.windows, &mut c.alerts)?;
        c.last_counts = counts_from(&f, "last_counts", k)?;
        c.totals = totals_from(&f.dict("totals")?, k)?;
        let (events, missing, errors) = f.get("counters")?;
        c.seen = Counts { events, missing, errors };
        Ok(NumericCore { core: c })
    }
}
