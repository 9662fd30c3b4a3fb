//! `CategoricalCore`, the Python class over [`crate::categorical::CategoricalCore`].

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::categorical::{self, OpenWindow, Settings, KEYS};
use crate::py_batch::CategoricalInput;
use crate::py_series::{
    alerts_from, alerts_to, counts_from, counts_to, history_rows, lifecycle_rows, prior, records,
    window_rows, windows_from, windows_to, LifecycleRow, SignalRecord,
};
use crate::py_settings::{categorical_checked, CategoricalSettings};
use crate::state::{check, Fields, Writer};
use crate::window::Counts;

/// One categorical series after its warm-up (see `detector.series.categorical`).
#[pyclass(module = "detector._native")]
pub struct CategoricalCore {
    pub(crate) core: categorical::CategoricalCore,
}

/// Settings as saved state holds them (a dict), through the checks `CategoricalSettings` runs.
fn settings_from(f: &Fields<'_>) -> PyResult<Settings> {
    // Snapshots from before the dependence calibration have no inflation: independent.
    let inflation = f.optional_f64("inflation")?.unwrap_or(1.0);
    categorical_checked(Settings {
        windows: windows_from(f)?,
        unseen: prior(f, "unseen")?,
        inflation,
    })
}

fn reference_checked(shares: &[f64], count: f64) -> PyResult<()> {
    check(
        !shares.is_empty() && shares.iter().all(|s| (0.0..=1.0).contains(s)) && count >= 1.0,
        "categorical reference",
    )
}

#[pymethods]
impl CategoricalCore {
    /// `shares`: the reference's tracked categories then other; `count`: its values.
    #[new]
    fn new(
        settings: PyRef<'_, CategoricalSettings>,
        shares: PyReadonlyArray1<'_, f64>,
        count: f64,
    ) -> PyResult<Self> {
        let settings = settings.inner;
        let shares = shares.as_slice()?.to_vec();
        reference_checked(&shares, count)?;
        Ok(CategoricalCore { core: categorical::CategoricalCore::new(settings, shares, count) })
    }

    /// Feed a batch's column at the series' `rows` (default: every row): `texts` are its codes
    /// into its vocabulary (-1 missing), `table` each text's category (other last), `unseen`
    /// whether the reference never saw it.
    #[pyo3(signature = (texts, table, unseen, errors, times, rows=None))]
    #[allow(clippy::too_many_arguments)]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        texts: PyReadonlyArray1<'py, i32>,
        table: PyReadonlyArray1<'py, i32>,
        unseen: PyReadonlyArray1<'py, bool>,
        errors: PyReadonlyArray1<'py, bool>,
        times: PyReadonlyArray1<'py, f64>,
        rows: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Vec<SignalRecord>> {
        let arrays = (texts, table, unseen, errors, times, rows);
        let input = CategoricalInput::new(&arrays)?;
        let core = &mut self.core;
        let signals = py.detach(|| input.run(core))?;
        Ok(records(py, signals, &KEYS))
    }

    /// (events, missing, type errors) fed so far.
    fn counters(&self) -> (u64, u64, u64) {
        (self.core.seen.events, self.core.seen.missing, self.core.seen.errors)
    }

    fn lifecycles(&self) -> Vec<LifecycleRow> {
        lifecycle_rows(&self.core.alerts)
    }

    fn last_window(&self) -> Vec<(&'static str, f64, f64)> {
        window_rows(&self.core.alerts)
    }

    fn history(&self) -> Vec<(f64, &'static str, f64, f64)> {
        history_rows(&self.core.alerts)
    }

    /// The latest tested window's counts per category (then other).
    fn last_counts<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i64>>> {
        self.core.last_counts.clone().map(|c| c.into_pyarray(py))
    }

    /// Counts per category (then other) of all values since the reference.
    fn totals<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.core.totals.clone().into_pyarray(py)
    }

    fn to_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.core;
        let w = Writer::new(py);
        let settings = Writer::new(py);
        windows_to(&settings, &c.settings.windows)?;
        settings.set("unseen", c.settings.unseen)?;
        settings.set("inflation", c.settings.inflation)?;
        w.set("settings", settings.finish())?;
        w.array("shares", c.shares.clone())?;
        w.set("reference_count", c.reference_count)?;
        let o = &c.open;
        let seen = o.seen;
        w.set("open", (seen.events, seen.missing, seen.errors, o.unseen, o.first, o.last))?;
        w.array("open_counts", o.counts.clone())?;
        alerts_to(&w, &c.clock, &c.alerts)?;
        counts_to(&w, "last_counts", &c.last_counts)?;
        w.array("totals", c.totals.clone())?;
        w.set("counters", (c.seen.events, c.seen.missing, c.seen.errors))?;
        Ok(w.finish())
    }

    #[staticmethod]
    fn from_state(state: &Bound<'_, PyAny>) -> PyResult<CategoricalCore> {
        let f = Fields::new(state)?;
        let settings = settings_from(&f.dict("settings")?)?;
        let shares = f.finite_array("shares")?;
        let count = f.finite("reference_count")?;
        reference_checked(&shares, count)?;
        let cells = shares.len();
        let mut c = categorical::CategoricalCore::new(settings, shares, count);
        let (events, missing, errors, unseen, first, last): (u64, u64, u64, u64, f64, f64) =
            f.get("open")?;
        let counts = f.array::<i64>("open_counts")?;
        let present: i64 = counts.iter().sum();
        check(
            counts.len() == cells
                && counts.iter().all(|&c| c >= 0)
                && present as u64 + missing + errors <= events
                && unseen <= present as u64,
            "open window",
        )?;
        let seen = Counts { events, missing, errors };
        c.open = OpenWindow { counts, seen, unseen, first, last };
        c.clock = alerts_from(&f, &settings.windows, &mut c.alerts)?;
        c.last_counts = counts_from(&f, "last_counts", cells)?;
        c.totals = f.array::<i64>("totals")?;
        check(c.totals.len() == cells && c.totals.iter().all(|&t| t >= 0), "totals")?;
        let (events, missing, errors) = f.get("counters")?;
        c.seen = Counts { events, missing, errors };
        Ok(CategoricalCore { core: c })
    }
}
