//! The quality checks of a closed window: rate checks (a count of events of a kind against the
//! reference's beta-binomial prior) and the constant check (`detector.quality`).
//!
//! Beta-binomial critical counts come from the Python function
//! `detector.quality.critical_count` (scipy), cached here: windows of one size repeat.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::outcome::{Outcome, Test};

/// `detector.quality.critical_count(n, a, b, alpha)`, from Python, cached across series.
pub struct CriticalCounts;

type CriticalKey = (u64, u64, u64, u64); // n and the bits of a, b and alpha
static CRITICAL: Mutex<Option<HashMap<CriticalKey, i64>>> = Mutex::new(None);
static PROVIDER: Mutex<Option<Py<PyAny>>> = Mutex::new(None);
const CACHE_LIMIT: usize = 1 << 16;

impl CriticalCounts {
    pub fn set_provider(function: Py<PyAny>) {
        *PROVIDER.lock().unwrap() = Some(function);
    }

    /// Cached, or computed by the Python provider (which takes the GIL: series update with
    /// the GIL released, several at a time).
    pub fn get(n: u64, a: f64, b: f64, alpha: f64) -> PyResult<i64> {
        let key = (n, a.to_bits(), b.to_bits(), alpha.to_bits());
        if let Some(&found) = CRITICAL.lock().unwrap().get_or_insert_with(HashMap::new).get(&key) {
            return Ok(found);
        }
        let limit: i64 = Python::attach(|py| {
            let function =
                PROVIDER.lock().unwrap().as_ref().map(|f| f.clone_ref(py)).ok_or_else(|| {
                    pyo3::exceptions::PyRuntimeError::new_err("no critical_count set")
                })?;
            function.call1(py, (n, a, b, alpha))?.extract(py)
        })?;
        let mut cache = CRITICAL.lock().unwrap();
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, limit);
        Ok(limit)
    }
}

/// A count of events of a kind in a window of `n`: implausibly many at `alpha`?
/// `(a, b)` is the beta-binomial's prior from the reference (`detector.quality.rate_check`).
pub fn rate_check(test: Test, count: u64, n: u64, a: f64, b: f64, alpha: f64) -> PyResult<Outcome> {
    let limit = CriticalCounts::get(n, a, b, alpha)?;
    Ok(Outcome { test, value: count as f64 / n as f64, threshold: (limit as f64 - 0.5) / n as f64 })
}

/// All values equal, when the reference makes that implausible (`constant_check`).
pub fn constant_check(n: u64, spread: f64, mode_share: f64, alpha: f64) -> Outcome {
    let plausible = n < 2 || mode_share >= 1.0 || mode_share.powf(n as f64) >= alpha;
    let value = if spread == 0.0 && !plausible { 1.0 } else { 0.0 };
    Outcome { test: Test::Constant, value, threshold: 0.5 }
}
