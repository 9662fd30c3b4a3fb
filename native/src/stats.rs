//! Small numeric helpers with numpy's and scipy's exact results.
//!
//! numpy sums float64 arrays pairwise (8 accumulators, blocks of 128), so a mean computed here
//! equals `np.mean` bit for bit, and alerts built from either agree. The inverse normal CDF is
//! scipy's own `ndtri`, called through the C function `scipy.special.cython_special` exports.

use std::sync::OnceLock;

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const BLOCK: usize = 128; // numpy's PW_BLOCKSIZE

/// `np.add.reduce` of a contiguous float64 array: numpy's pairwise summation.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut sum = 0.0;
        for &v in a {
            sum += v;
        }
        sum
    } else if n <= BLOCK {
        let mut r = [0.0_f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            sum += a[i];
            i += 1;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `np.mean` (NaN for an empty slice, as numpy gives with a warning).
pub fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// Autocorrelations at lags 1 to `lags` (numpy's sums: `(c[k:] * c[:-k]).sum() / (c * c).sum()`
/// with `c` the centred values); None for fewer than 3 values or all equal.
fn autocorrelations(values: &[f64], lags: usize) -> Option<Vec<f64>> {
    if values.len() < 3 {
        return None;
    }
    let m = mean(values);
    let centred: Vec<f64> = values.iter().map(|v| v - m).collect();
    let squares: Vec<f64> = centred.iter().map(|c| c * c).collect();
    let denominator = pairwise_sum(&squares);
    if denominator == 0.0 {
        return None; // numpy's std() == 0: every value equal
    }
    let lag = |k: usize| {
        let products: Vec<f64> = centred[k..].iter().zip(&centred).map(|(a, b)| a * b).collect();
        pairwise_sum(&products) / denominator
    };
    Some((1..=lags.min(values.len() - 1)).map(lag).collect())
}

/// Lag-1 autocorrelation clipped to [0, 0.95] (negative dependence only narrows variance).
pub fn lag1_autocorrelation(values: &[f64]) -> f64 {
    autocorrelations(values, 1).map_or(0.0, |r| r[0].clamp(0.0, 0.95))
}

/// Fewest non-overlapping blocks a batch-means estimate is made from.
pub const LEAST_BLOCKS: usize = 20;
/// Largest variance inflation calibrated for (AR(1)-equivalent dependence 0.95).
const MOST_INFLATION: f64 = 39.0;

/// The AR(1) coefficient whose `(1 + phi) / (1 - phi)` is `inflation` (clipped to [0, 0.95]):
/// how a measured inflation is stored and passed on (`dependence` fields).
pub fn equivalent_dependence(inflation: f64) -> f64 {
    let f = if inflation.is_finite() { inflation.clamp(1.0, MOST_INFLATION) } else { 1.0 };
    ((f - 1.0) / (f + 1.0)).clamp(0.0, 0.95)
}

/// Variance inflation of means of `scale` consecutive values, from the means of
/// non-overlapping blocks of `scale` (batch means): `scale * var(block means) / variance`,
/// and, with `longer` and blocks enough, of 4 and 16 times `scale` (blocks of blocks): ADWIN
/// and Page-Hinkley weigh evidence over many windows, and under long memory the means of
/// longer stretches vary more still (a check of one window at a time needs `scale` only).
/// The largest; None below LEAST_BLOCKS blocks.
pub fn batch_means_inflation(
    block_means: &[f64],
    scale: usize,
    variance: f64,
    longer: bool,
) -> Option<f64> {
    let mut found = scale_inflation(block_means, scale, variance)?;
    let (mut blocks, mut scale) = (block_means.to_vec(), scale);
    for _ in 0..if longer { 2 } else { 0 } {
        blocks = blocks.chunks_exact(4).map(mean).collect();
        scale *= 4;
        match scale_inflation(&blocks, scale, variance) {
            Some(f) => found = found.max(f),
            None => break,
        }
    }
    Some(found)
}

/// One scale's batch-means ratio, kept only when it is beyond the noise of its own estimate
/// (two standard errors of a variance ratio from `m` blocks, `sqrt(2 / (m - 1))`), else 1:
/// independent data must not lose power to chance.
fn scale_inflation(block_means: &[f64], scale: usize, variance: f64) -> Option<f64> {
    let m = block_means.len();
    if m < LEAST_BLOCKS || variance <= 0.0 || !variance.is_finite() {
        return None;
    }
    let centre = mean(block_means);
    let squares: Vec<f64> = block_means.iter().map(|b| (b - centre) * (b - centre)).collect();
    let f = scale as f64 * pairwise_sum(&squares) / (m - 1) as f64 / variance;
    let noise = (2.0 / (m - 1) as f64).sqrt();
    Some(if f > 1.0 + 2.0 * noise { f } else { 1.0 })
}

/// Variance inflation of means of `scale` consecutive values, from the autocorrelations up
/// to lag `L = min(scale, sqrt(n))` with Bartlett weights (a long-run variance ratio). It
/// sees dependence that lag 1 hides (a count whose rate wanders, long memory); kept only
/// beyond two standard errors of its own estimate under independence, `sqrt(4L / 3n)`.
pub fn bartlett_inflation(values: &[f64], scale: usize) -> f64 {
    let n = values.len();
    let lags = scale.min((n as f64).sqrt() as usize);
    let Some(rho) = autocorrelations(values, lags) else { return 1.0 };
    let mut f = 1.0;
    for (k, r) in rho.iter().enumerate() {
        f += 2.0 * (1.0 - (k + 1) as f64 / (lags + 1) as f64) * r;
    }
    let noise = (4.0 * lags as f64 / (3.0 * n as f64)).sqrt();
    if f > 1.0 + 2.0 * noise {
        f
    } else {
        1.0
    }
}

/// The dependence of values in stream order at the scale their windows are tested at
/// (`scale` values), as an AR(1)-equivalent coefficient: the largest of the lag-1 factor
/// `(1 + r1) / (1 - r1)` (r1 beyond two standard errors, `2 / sqrt(n)`), the Bartlett long-run ratio and, for at least LEAST_BLOCKS blocks,
/// the batch-means ratio.
pub fn dependence(values: &[f64], scale: usize) -> f64 {
    let mut r1 = lag1_autocorrelation(values);
    if r1 <= 2.0 / (values.len() as f64).sqrt() {
        r1 = 0.0; // within two standard errors of none
    }
    let mut f = ((1.0 + r1) / (1.0 - r1)).max(bartlett_inflation(values, scale));
    let scale = scale.max(1);
    let blocks: Vec<f64> = values.chunks_exact(scale).map(mean).collect();
    if blocks.len() >= LEAST_BLOCKS {
        let m = mean(values);
        let squares: Vec<f64> = values.iter().map(|v| (v - m) * (v - m)).collect();
        let variance = pairwise_sum(&squares) / values.len() as f64;
        if let Some(b) = batch_means_inflation(&blocks, scale, variance, true) {
            f = f.max(b);
        }
    }
    equivalent_dependence(f)
}

/// How many of the newest `scores` follow the most likely single change in mean (CUSUM), at
/// least `least`: `detector.series.numeric.values_since_change`.
pub fn values_since_change(scores: &[f64], least: usize) -> usize {
    let n = scores.len();
    if n <= least {
        return n;
    }
    let mut sums = Vec::with_capacity(n);
    let mut running = 0.0;
    for &s in scores {
        running += s;
        sums.push(running);
    }
    let total = sums[n - 1];
    let (mut best, mut split) = (-1.0_f64, 0usize);
    for k in 1..n {
        let gap = (sums[k - 1] - k as f64 / n as f64 * total).abs();
        if gap > best {
            best = gap;
            split = k;
        }
    }
    (n - split).max(least)
}

#[cfg(not(test))]
type Ndtri = unsafe extern "C" fn(f64, std::os::raw::c_int) -> f64;
static NDTRI: OnceLock<usize> = OnceLock::new();
const NDTRI_SIGNATURE: &std::ffi::CStr = c"double (double, int __pyx_skip_dispatch)";

/// Look up scipy's `ndtri` once; ImportError if scipy no longer exports it as expected.
pub fn load_ndtri(py: Python<'_>) -> PyResult<()> {
    if NDTRI.get().is_some() {
        return Ok(());
    }
    let capi = py.import("scipy.special.cython_special")?.getattr("__pyx_capi__")?;
    let capsule = capi.get_item("ndtri")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    // The capsule's name is the C signature: a different one fails here, not in a call.
    let pointer = capsule.pointer_checked(Some(NDTRI_SIGNATURE)).map_err(|_| {
        PyImportError::new_err(format!(
            "scipy.special.cython_special.ndtri is not {NDTRI_SIGNATURE:?}: scipy changed"
        ))
    })?;
    let _ = NDTRI.set(pointer.as_ptr() as usize);
    Ok(())
}

/// scipy.special.ndtri (call [`load_ndtri`] first; the module does at import).
#[cfg(not(test))]
#[inline]
pub fn ndtri(p: f64) -> f64 {
    let address = *NDTRI.get().expect("ndtri used before load_ndtri");
    // SAFETY: the address is scipy's exported `double ndtri(double, int)`, checked by its
    // capsule signature in load_ndtri; it is a pure function of its arguments.
    let function: Ndtri = unsafe { std::mem::transmute::<usize, Ndtri>(address) };
    unsafe { function(p, 0) }
}

/// `cargo test` runs without Python, so without scipy: the inverse normal CDF by Newton's
/// method on libm's `erfc` (to a few ulps; the Python tests pin the scores to scipy's).
#[cfg(test)]
pub fn ndtri(p: f64) -> f64 {
    extern "C" {
        fn erfc(x: f64) -> f64;
    }
    // SAFETY: a pure libm function.
    let cdf = |x: f64| 0.5 * unsafe { erfc(-x / std::f64::consts::SQRT_2) };
    let mut x = 0.0_f64;
    for _ in 0..100 {
        let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let step = (cdf(x) - p) / density;
        x -= step;
        if step.abs() < 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    x
}
