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

/// Lag-1 autocorrelation clipped to [0, 0.95], as `detector.reference.lag1_autocorrelation`.
pub fn lag1_autocorrelation(values: &[f64]) -> f64 {
    if values.len() < 3 {
        return 0.0;
    }
    let m = mean(values);
    let centred: Vec<f64> = values.iter().map(|v| v - m).collect();
    let squares: Vec<f64> = centred.iter().map(|c| c * c).collect();
    let denominator = pairwise_sum(&squares);
    if denominator == 0.0 {
        return 0.0; // numpy's std() == 0: every value equal
    }
    let products: Vec<f64> = centred.windows(2).map(|w| w[1] * w[0]).collect();
    (pairwise_sum(&products) / denominator).clamp(0.0, 0.95)
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
#[inline]
pub fn ndtri(p: f64) -> f64 {
    let address = *NDTRI.get().expect("ndtri used before load_ndtri");
    // SAFETY: the address is scipy's exported `double ndtri(double, int)`, checked by its
    // capsule signature in load_ndtri; it is a pure function of its arguments.
    let function: Ndtri = unsafe { std::mem::transmute::<usize, Ndtri>(address) };
    unsafe { function(p, 0) }
}
