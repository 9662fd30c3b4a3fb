//! The quality checks of a closed window: rate checks (a count of events of a kind against the
//! reference's beta-binomial prior) and the constant check (`detector.quality`).
//!
//! Beta-binomial critical counts are computed here, as scipy does (no call into Python).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::outcome::{Outcome, Test};
use crate::stats::pairwise_sum;

/// Smallest count `c` of `n` with `P(X >= c) < alpha` for `X ~ BetaBinomial(n, a, b)`: what
/// `detector.quality.critical_count` gets from scipy (`betabinom.isf(alpha, n, a, b) + 1`),
/// computed here the way scipy does it (bisection on the CDF, the CDF a pairwise sum of the
/// probabilities, each from ln-beta functions), so the two agree (`tests/test_quality.py`
/// compares them over a grid).
pub fn critical_count(n: u64, a: f64, b: f64, alpha: f64) -> i64 {
    if alpha <= 0.0 {
        return n as i64 + 1; // isf(0) is the support's end
    }
    if alpha >= 1.0 {
        return 0; // isf(1) is one below the support
    }
    let pmf = beta_binomial_pmf(n, a, b);
    let cdf = |k: u64| pairwise_sum(&pmf[..=k as usize]);
    let q = 1.0 - alpha;
    // The smallest k with cdf(k) >= q, by bisection over [0, n] (cdf(n) taken as 1).
    let (mut low, mut high) = (0u64, n);
    let (mut at_low, mut at_high) = (cdf(0), 1.0);
    let quantile = loop {
        if at_low == q {
            break low;
        }
        if at_high == q {
            break high;
        }
        if high <= low + 1 {
            break if at_low > q { low } else { high };
        }
        let mid = (low + high) / 2;
        let at_mid = cdf(mid);
        if at_mid < q {
            (low, at_low) = (mid, at_mid);
        } else if at_mid > q {
            (high, at_high) = (mid, at_mid);
        } else {
            break mid;
        }
    };
    quantile as i64 + 1
}

/// P(X = k) for k in 0..=n, X ~ BetaBinomial(n, a, b), by scipy's formula (`betabinom._logpmf`):
/// `exp(-ln(n + 1) - ln B(n - k + 1, k + 1) + ln B(k + a, n - k + b) - ln B(a, b))`.
fn beta_binomial_pmf(n: u64, a: f64, b: f64) -> Vec<f64> {
    let nf = n as f64;
    let whole = ln_beta(a, b);
    (0..=n)
        .map(|k| {
            let k = k as f64;
            let combinations = -(nf + 1.0).ln() - ln_beta(nf - k + 1.0, k + 1.0);
            (combinations + ln_beta(k + a, nf - k + b) - whole).exp()
        })
        .collect()
}

extern "C" {
    fn lgamma_r(x: f64, sign: *mut i32) -> f64; // C's libm (std links it)
    fn tgamma(x: f64) -> f64;
}

/// ln G(x): Stirling's series (to 1/x^5) from 1000 on, as scipy's cephes evaluates it (these
/// arguments are where the priors of large references put it); libm's below.
fn ln_gamma(x: f64) -> f64 {
    if x >= 1000.0 {
        const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;
        let q = (x - 0.5) * x.ln() - x + LN_SQRT_2PI;
        if x > 1e8 {
            return q;
        }
        let p = 1.0 / (x * x);
        return q + ((1.0 / 1260.0 * p - 1.0 / 360.0) * p + 1.0 / 12.0) / x;
    }
    let mut sign = 0;
    // SAFETY: a pure libm function; `sign` is a valid place for its sign output.
    unsafe { lgamma_r(x, &mut sign) }
}

/// ln B(a, b) for positive a and b, evaluated as scipy's `betaln` is: from the gamma function
/// itself while that is finite, from ln-gamma beyond, asymptotically when one argument dwarfs
/// the other.
fn ln_beta(a: f64, b: f64) -> f64 {
    let (large, small) = if a >= b { (a, b) } else { (b, a) };
    if large > 1e6 * small && large > 1e6 {
        // ln G(small) - ln(G(large + small) / G(large)), the latter's series in 1 / large.
        let (s, l) = (small, large);
        let mut r = ln_gamma(s) - s * l.ln();
        r += s * (1.0 - s) / (2.0 * l);
        r += s * (1.0 - s) * (1.0 - 2.0 * s) / (12.0 * l * l);
        r += -s * s * (1.0 - s) * (1.0 - s) / (12.0 * l * l * l);
        return r;
    }
    let sum = large + small;
    if sum > 171.624_376_956_302_7 {
        return ln_gamma(large) + (ln_gamma(small) - ln_gamma(sum));
    }
    // SAFETY: a pure libm function.
    let (g_sum, g_large, g_small) = unsafe { (tgamma(sum), tgamma(large), tgamma(small)) };
    let ratio = if (g_large - g_sum).abs() > (g_small - g_sum).abs() {
        g_small / g_sum * g_large
    } else {
        g_large / g_sum * g_small
    };
    ratio.abs().ln()
}

/// [`critical_count`], cached across series: windows of one size repeat.
struct CriticalCounts;

type CriticalKey = (u64, u64, u64, u64); // n and the bits of a, b and alpha
static CRITICAL: Mutex<Option<HashMap<CriticalKey, i64>>> = Mutex::new(None);
const CACHE_LIMIT: usize = 1 << 16;

impl CriticalCounts {
    fn get(n: u64, a: f64, b: f64, alpha: f64) -> i64 {
        let key = (n, a.to_bits(), b.to_bits(), alpha.to_bits());
        if let Some(&found) = CRITICAL.lock().unwrap().get_or_insert_with(HashMap::new).get(&key) {
            return found;
        }
        let limit = critical_count(n, a, b, alpha);
        let mut cache = CRITICAL.lock().unwrap();
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, limit);
        limit
    }
}

/// A count of events of a kind in a window of `n`: implausibly many at `alpha`?
/// `(a, b)` is the beta-binomial's prior from the reference (`detector.quality.rate_check`).
pub fn rate_check(test: Test, count: u64, n: u64, a: f64, b: f64, alpha: f64) -> Outcome {
    let limit = CriticalCounts::get(n, a, b, alpha);
    Outcome { test, value: count as f64 / n as f64, threshold: (limit as f64 - 0.5) / n as f64 }
}

/// All values equal, when the reference makes that implausible (`constant_check`).
pub fn constant_check(n: u64, spread: f64, mode_share: f64, alpha: f64) -> Outcome {
    let plausible = n < 2 || mode_share >= 1.0 || mode_share.powf(n as f64) >= alpha;
    let value = if spread == 0.0 && !plausible { 1.0 } else { 0.0 };
    Outcome { test: Test::Constant, value, threshold: 0.5 }
}
