//! Typed settings for the series cores: built by keyword in Python
//! (`detector.series.base.window_settings`, the series' `_settings`) and checked once there, so
//! a misspelt or missing setting is a `TypeError` naming it at construction rather than a
//! dict key the core looks up later. Saved state keeps its dicts (`to_state` / `from_state`),
//! read through the same checks.

use pyo3::prelude::*;

use crate::categorical;
use crate::numeric::{self, RangeCheck};
use crate::state::check;
use crate::window::Windows;

/// Windows, levels, resolve rule and the two check priors, as both cores take them.
#[pyclass(module = "detector._native", frozen)]
#[derive(Clone)]
pub struct WindowSettings {
    pub(crate) inner: Windows,
}

fn prior_checked(prior: (f64, f64), name: &str) -> PyResult<(f64, f64)> {
    let (a, b) = prior;
    check(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite(), name)?;
    Ok(prior)
}

/// The checks every window setting passes, from Python or from saved state.
pub fn windows_checked(s: Windows) -> PyResult<Windows> {
    check(s.window >= 1 && s.resolve_windows >= 1, "window sizes")?;
    check((1.0..=40.0).contains(&s.missing_inflation), "missing_inflation")?;
    check(s.window_seconds.is_none_or(|w| w > 0.0 && w.is_finite()), "window_seconds")?;
    let level = |a: f64| 0.0 < a && a < 1.0;
    check(level(s.alpha) && level(s.resolve_alpha), "alpha")?;
    let finite = [s.critical_shift, s.chi2_level, s.chi2_resolve_level];
    check(finite.iter().all(|v| v.is_finite()), "levels")?;
    prior_checked(s.missing, "missing")?;
    prior_checked(s.type_errors, "type_errors")?;
    Ok(s)
}

#[pymethods]
impl WindowSettings {
    #[new]
    #[pyo3(signature = (
        *, window, window_seconds, min_window_values, resolve_windows, critical_shift, alpha,
        resolve_alpha, chi2_level, chi2_resolve_level, missing, type_errors, missing_inflation
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        window: usize,
        window_seconds: Option<f64>,
        min_window_values: usize,
        resolve_windows: u64,
        critical_shift: f64,
        alpha: f64,
        resolve_alpha: f64,
        chi2_level: f64,
        chi2_resolve_level: f64,
        missing: (f64, f64),
        type_errors: (f64, f64),
        missing_inflation: f64,
    ) -> PyResult<Self> {
        let inner = windows_checked(Windows {
            window,
            window_seconds,
            min_window_values,
            resolve_windows,
            critical_shift,
            alpha,
            resolve_alpha,
            chi2_level,
            chi2_resolve_level,
            missing,
            type_errors,
            missing_inflation,
        })?;
        Ok(WindowSettings { inner })
    }
}

/// A numeric core's settings: the windows', the change-point detectors' and the range check.
#[pyclass(module = "detector._native", frozen)]
pub struct NumericSettings {
    pub(crate) inner: numeric::Settings,
}

/// A range check from its saved or configured form: `("off" | "bounds" | "beyond", a, b)`.
pub fn range_check(kind: &str, a: f64, b: f64) -> PyResult<RangeCheck> {
    match kind {
        "off" => Ok(RangeCheck::Off),
        "bounds" if a > 0.0 && b > 0.0 => Ok(RangeCheck::Bounds { a, b }),
        "beyond" if b >= 1.0 => Ok(RangeCheck::Beyond { reference: b }),
        _ => check(false, "range").map(|_| RangeCheck::Off),
    }
}

/// The checks every numeric setting passes, from Python or from saved state.
pub fn numeric_checked(s: numeric::Settings) -> PyResult<numeric::Settings> {
    check(s.warmup >= 1, "warmup")?;
    check((0.0..1.0).contains(&s.adwin_delta) && s.adwin_delta > 0.0, "adwin_delta")?;
    check(s.ph_delta.is_finite() && s.ph_threshold.is_finite(), "page_hinkley")?;
    Ok(s)
}

#[pymethods]
impl NumericSettings {
    #[new]
    #[pyo3(signature = (*, windows, warmup, adwin_delta, ph_delta, ph_threshold, range))]
    fn new(
        windows: PyRef<'_, WindowSettings>,
        warmup: usize,
        adwin_delta: f64,
        ph_delta: f64,
        ph_threshold: f64,
        range: (String, f64, f64),
    ) -> PyResult<Self> {
        let inner = numeric_checked(numeric::Settings {
            windows: windows.inner,
            warmup,
            adwin_delta,
            ph_delta,
            ph_threshold,
            range: range_check(&range.0, range.1, range.2)?,
        })?;
        Ok(NumericSettings { inner })
    }
}

/// A categorical core's settings: the windows', the unseen-category prior, the inflation.
#[pyclass(module = "detector._native", frozen)]
pub struct CategoricalSettings {
    pub(crate) inner: categorical::Settings,
}

/// The checks every categorical setting passes, from Python or from saved state.
pub fn categorical_checked(s: categorical::Settings) -> PyResult<categorical::Settings> {
    check(s.inflation.is_finite() && (1.0..=40.0).contains(&s.inflation), "inflation")?;
    prior_checked(s.unseen, "unseen")?;
    Ok(s)
}

#[pymethods]
impl CategoricalSettings {
    #[new]
    #[pyo3(signature = (*, windows, unseen, inflation))]
    fn new(
        windows: PyRef<'_, WindowSettings>,
        unseen: (f64, f64),
        inflation: f64,
    ) -> PyResult<Self> {
        let inner = categorical_checked(categorical::Settings {
            windows: windows.inner,
            unseen,
            inflation,
        })?;
        Ok(CategoricalSettings { inner })
    }
}
