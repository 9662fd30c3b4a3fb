//! Python classes over the detectors: `detector.detectors.adwin` wraps ADWIN (the labels' error
//! stream); Page-Hinkley's is for `tests/detectors/test_page_hinkley.py`.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::adwin::{Adwin, AdwinState};
use crate::page_hinkley::PageHinkley;

/// river's ADWIN over whole arrays; after a detection the next value starts a fresh window.
#[pyclass(module = "detector._native")]
pub struct AdwinCore {
    core: Adwin,
}

#[pymethods]
impl AdwinCore {
    #[new]
    fn new(delta: f64, clock: u32, min_window_length: u32) -> Self {
        AdwinCore { core: Adwin::new(delta, clock, min_window_length) }
    }

    /// (batch index, window width with the deciding value) of every detection, in order.
    fn changes(&mut self, x: PyReadonlyArray1<'_, f64>) -> PyResult<Vec<(usize, usize)>> {
        let mut found = Vec::new();
        for (i, &value) in x.as_slice()?.iter().enumerate() {
            // Until a detection drops buckets, ADWIN's width is the values since its reset.
            let width = self.core.width() as usize + 1;
            if self.core.update(value) {
                found.push((i, width));
                self.core.reset();
            }
        }
        Ok(found)
    }

    #[getter]
    fn width(&self) -> usize {
        self.core.width() as usize
    }

    /// (width, total, variance, tick, row lengths, bucket totals, bucket variances).
    fn state<'py>(&self, py: Python<'py>) -> AdwinTuple<'py> {
        let s = self.core.state();
        let lengths: Vec<u8> = s.rows.iter().map(|(t, _)| t.len() as u8).collect();
        let totals: Vec<f64> = s.rows.iter().flat_map(|(t, _)| t.iter().copied()).collect();
        let variances: Vec<f64> = s.rows.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        (
            s.width,
            s.total,
            s.variance,
            s.tick,
            lengths.into_pyarray(py),
            totals.into_pyarray(py),
            variances.into_pyarray(py),
        )
    }

    /// The ADWIN that :meth:`state` described; ValueError when no ADWIN can be in that state.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn restored(
        delta: f64,
        clock: u32,
        min_window_length: u32,
        width: f64,
        total: f64,
        variance: f64,
        tick: u32,
        lengths: PyReadonlyArray1<'_, u8>,
        totals: PyReadonlyArray1<'_, f64>,
        variances: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Self> {
        let invalid = || PyValueError::new_err("saved ADWIN state is not consistent");
        let (totals, variances) = (totals.as_slice()?, variances.as_slice()?);
        if totals.len() != variances.len() {
            return Err(invalid());
        }
        let mut rows = Vec::new();
        let mut at = 0usize;
        for &n in lengths.as_slice()? {
            let end = at + n as usize;
            if end > totals.len() {
                return Err(invalid());
            }
            rows.push((totals[at..end].to_vec(), variances[at..end].to_vec()));
            at = end;
        }
        if at != totals.len() {
            return Err(invalid());
        }
        let state = AdwinState { width, total, variance, tick, rows };
        Adwin::from_state(delta, clock, min_window_length, &state)
            .map(|core| AdwinCore { core })
            .ok_or_else(invalid)
    }
}

type AdwinTuple<'py> = (
    f64,
    f64,
    f64,
    u32,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Page-Hinkley over whole arrays.
#[pyclass(module = "detector._native")]
pub struct PageHinkleyCore {
    inner: PageHinkley,
}

#[pymethods]
impl PageHinkleyCore {
    #[new]
    fn new(min_instances: u64, delta: f64, threshold: f64, alpha: f64) -> Self {
        PageHinkleyCore { inner: PageHinkley::new(min_instances, delta, threshold, alpha) }
    }

    /// (batch index, up, statistic, onset relative to the batch) of every detection.
    fn update_many(
        &mut self,
        x: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Vec<(usize, bool, f64, i64)>> {
        let base = self.inner.seen;
        let mut found = Vec::new();
        for (i, &value) in x.as_slice()?.iter().enumerate() {
            if let Some(d) = self.inner.update(value) {
                found.push((i, d.up, d.statistic, d.onset - base));
            }
        }
        Ok(found)
    }

    #[getter]
    fn statistic(&self) -> Option<f64> {
        self.inner.statistic()
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.threshold
    }

    #[setter]
    fn set_threshold(&mut self, value: f64) {
        self.inner.threshold = value;
    }
}
