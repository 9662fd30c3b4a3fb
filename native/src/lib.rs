//! `detector._native`: the per-value hot path of the engine, in Rust.
//!
//! Everything here is a pure function of its inputs and the state it owns; Kafka, config and
//! alert formatting stay in Python. Each module has one concept.

use pyo3::prelude::*;

mod adwin;
mod binned_tests;
mod categorical;
mod change_point;
mod checks;
#[cfg(test)]
mod core_tests;
mod event_columns;
mod event_paths;
mod event_rules;
mod event_walk;
#[cfg(test)]
mod example_detector;
mod json_number;
mod json_scan;
mod judge;
mod numeric;
mod outcome;
mod page_hinkley;
mod py_batch;
mod py_categorical;
mod py_decoder;
mod py_detectors;
mod py_numeric;
mod py_records;
mod py_series;
mod py_settings;
mod reference;
mod rfc3339;
mod sketch;
mod state;
mod stats;
mod text_index;
mod window;

/// The rate checks' beta-binomial critical count (`checks::critical_count`; exposed for the
/// test that pins it to scipy's, `detector.quality.critical_count`).
#[pyfunction]
fn critical_count(n: u64, a: f64, b: f64, alpha: f64) -> i64 {
    checks::critical_count(n, a, b, alpha)
}

/// numpy's pairwise sum of a float64 array (exposed for the tests that pin it to numpy).
#[pyfunction]
fn pairwise_sum(values: numpy::PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    Ok(stats::pairwise_sum(values.as_slice()?))
}

/// Dependence of values in stream order at the scale of `scale`-value windows, as the
/// AR(1)-equivalent coefficient of the measured variance inflation (`stats::dependence`).
#[pyfunction]
fn dependence(values: numpy::PyReadonlyArray1<'_, f64>, scale: usize) -> PyResult<f64> {
    Ok(stats::dependence(values.as_slice()?, scale))
}

/// Dependence from the means of consecutive blocks of `scale` values and the values'
/// variance (a training file read in order), or None below `stats::LEAST_BLOCKS` blocks;
/// `longer`: also at 4 and 16 times the scale (for detectors that span many windows).
#[pyfunction]
#[pyo3(signature = (block_means, scale, variance, longer=true))]
fn block_dependence(
    block_means: numpy::PyReadonlyArray1<'_, f64>,
    scale: usize,
    variance: f64,
    longer: bool,
) -> PyResult<Option<f64>> {
    let blocks = block_means.as_slice()?;
    let inflation = stats::batch_means_inflation(blocks, scale, variance, longer);
    Ok(inflation.map(stats::equivalent_dependence))
}

/// Normal scores of `values` against a reference's 201 quantiles of `count` values
/// (`reference::Reference::normal_score`, the transform every numeric series applies); NaN stays
/// NaN. The joint (multivariate) test scores whole columns with it.
#[pyfunction]
fn normal_scores<'py>(
    py: Python<'py>,
    quantiles: numpy::PyReadonlyArray1<'py, f64>,
    count: f64,
    values: numpy::PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let q = quantiles.as_slice()?.to_vec();
    let reference = reference::Reference::new(q, count, 0.0, 1.0, vec![], vec![1.0], 0.0, 0.0, 0.0)
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    let scores: Vec<f64> = values
        .as_slice()?
        .iter()
        .map(|&v| if v.is_nan() { f64::NAN } else { reference.normal_score(v) })
        .collect();
    Ok(numpy::PyArray1::from_vec(py, scores))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    stats::load_ndtri(m.py())?;
    m.add_class::<py_detectors::AdwinCore>()?;
    m.add_class::<py_detectors::PageHinkleyCore>()?;
    m.add_class::<py_numeric::NumericCore>()?;
    m.add_class::<py_categorical::CategoricalCore>()?;
    m.add_class::<py_series::SignalRecord>()?;
    m.add_class::<py_settings::WindowSettings>()?;
    m.add_class::<py_settings::NumericSettings>()?;
    m.add_class::<py_settings::CategoricalSettings>()?;
    m.add_class::<py_decoder::EventDecoder>()?;
    m.add_class::<event_columns::DecodedEvents>()?;
    m.add_function(wrap_pyfunction!(critical_count, m)?)?;
    m.add_function(wrap_pyfunction!(pairwise_sum, m)?)?;
    m.add_function(wrap_pyfunction!(dependence, m)?)?;
    m.add_function(wrap_pyfunction!(block_dependence, m)?)?;
    m.add_function(wrap_pyfunction!(normal_scores, m)?)?;
    m.add_function(wrap_pyfunction!(py_batch::update_all, m)?)?;
    m.add_function(wrap_pyfunction!(py_records::sort_records, m)?)?;
    m.add_class::<py_records::SortedRecords>()?;
    Ok(())
}
