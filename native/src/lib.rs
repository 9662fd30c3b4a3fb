//! `detector._native`: the per-value hot path of the engine, in Rust.
//!
//! Everything here is a pure function of its inputs and the state it owns; Kafka, config and
//! alert formatting stay in Python. Each module has one concept.

use pyo3::prelude::*;

mod adwin;
mod page_hinkley;
mod py_detectors;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<py_detectors::AdwinCore>()?;
    m.add_class::<py_detectors::PageHinkleyCore>()?;
    Ok(())
}
