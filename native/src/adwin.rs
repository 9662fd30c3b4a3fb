//! ADWIN (Bifet & Gavaldà, 2007) with river's exact arithmetic, plus the bounded, restorable
//! mode the engine runs it in.
//!
//! The exponential-histogram ADWIN2 that river ships: row `i` of the histogram holds up to
//! `max_buckets + 1` buckets of `2^i` values each (oldest first), every `clock` values each split
//! of the window into an older and a newer part is tested, and the oldest bucket is dropped while
//! some split's means differ by more than the Hoeffding/Bernstein bound. The order of every
//! floating-point operation follows river's implementation, so the two detect at the same
//! indexes (`tests/detectors` checks that against `river.drift.ADWIN`).
//!
//! Unlike river's core, the histogram can be saved and restored exactly ([`Adwin::state`],
//! [`Adwin::from_state`]): a few hundred numbers, whatever the window's length.

use crate::change_point::{ChangeDetector, Detection, Registration, Saved};

const ROW_SLOTS: usize = 8; // max_buckets + 1 must fit (max_buckets is river's 5)

#[derive(Clone, Debug)]
struct Row {
    len: usize,
    totals: [f64; ROW_SLOTS],
    variances: [f64; ROW_SLOTS],
}

impl Row {
    fn new() -> Self {
        Row { len: 0, totals: [0.0; ROW_SLOTS], variances: [0.0; ROW_SLOTS] }
    }

    fn push(&mut self, total: f64, variance: f64) {
        self.totals[self.len] = total;
        self.variances[self.len] = variance;
        self.len += 1;
    }

    /// Drop the `n` oldest buckets.
    fn drop_oldest(&mut self, n: usize) {
        self.totals.copy_within(n..self.len, 0);
        self.variances.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// river's ADWIN: `update` returns whether the value completed a detection.
#[derive(Clone, Debug)]
pub struct Adwin {
    pub delta: f64,
    pub clock: u32,
    pub min_window_length: f64,
    max_buckets: usize,
    grace_period: f64,
    width: f64,
    total: f64,
    variance: f64,
    tick: u32,
    rows: Vec<Row>,
}

pub const MAX_BUCKETS: usize = 5;
const GRACE_PERIOD: f64 = 10.0;

impl Adwin {
    pub fn new(delta: f64, clock: u32, min_window_length: u32) -> Self {
        Adwin {
            delta,
            clock,
            min_window_length: f64::from(min_window_length),
            max_buckets: MAX_BUCKETS,
            grace_period: GRACE_PERIOD,
            width: 0.0,
            total: 0.0,
            variance: 0.0,
            tick: 0,
            rows: vec![Row::new()],
        }
    }

    pub fn width(&self) -> f64 {
        self.width
    }

    /// A fresh window with the same settings (what river does after a detection).
    pub fn reset(&mut self) {
        *self = Adwin::new(self.delta, self.clock, self.min_window_length as u32);
    }

    pub fn update(&mut self, value: f64) -> bool {
        self.insert(value);
        self.detect()
    }

    fn insert(&mut self, value: f64) {
        self.rows[0].push(value, 0.0);
        self.width += 1.0;
        let mut increment = 0.0;
        if self.width > 1.0 {
            let deviation = value - self.total / (self.width - 1.0);
            increment = (self.width - 1.0) * deviation * deviation / self.width;
        }
        self.variance += increment;
        self.total += value;
        self.compress();
    }

    /// Merge the two oldest buckets of every full row into the next row.
    fn compress(&mut self) {
        let mut i = 0;
        while self.rows[i].len == self.max_buckets + 1 {
            let size = (1u64 << i) as f64;
            let row = &self.rows[i];
            let (t0, t1, v0, v1) =
                (row.totals[0], row.totals[1], row.variances[0], row.variances[1]);
            let (mean0, mean1) = (t0 / size, t1 / size);
            let merged_variance = v0 + v1 + size * 0.5 * (mean0 - mean1) * (mean0 - mean1);
            if i + 1 == self.rows.len() {
                self.rows.push(Row::new());
            }
            self.rows[i + 1].push(t0 + t1, merged_variance);
            self.rows[i].drop_oldest(2);
            if self.rows[i + 1].len <= self.max_buckets {
                break;
            }
            i += 1;
        }
    }

    /// Drop the oldest bucket (the first of the last row).
    fn drop_oldest_bucket(&mut self) {
        let last = self.rows.len() - 1;
        let size = (1u64 << last) as f64;
        let (total, variance) = (self.rows[last].totals[0], self.rows[last].variances[0]);
        let mean = total / size;
        self.width -= size;
        self.total -= total;
        let window_mean = self.total / self.width;
        let spread = mean - window_mean;
        self.variance -= variance + size * self.width * spread * spread / (size + self.width);
        self.rows[last].drop_oldest(1);
        if self.rows[last].len == 0 {
            self.rows.pop();
        }
    }

    fn detect(&mut self) -> bool {
        self.tick = self.tick.wrapping_add(1);
        if !self.tick.is_multiple_of(self.clock) || self.width <= self.grace_period {
            return false;
        }
        let mut detected = false;
        while self.cut_once() {
            detected = true;
        }
        detected
    }

    /// Test every split, oldest part first; drop the oldest bucket at the first that differs.
    fn cut_once(&mut self) -> bool {
        let (mut n0, mut n1, mut u0, mut u1) = (0.0_f64, self.width, 0.0_f64, self.total);
        // Constant over one pass (river recomputes them per split: same values).
        let delta_prime = (2.0 * self.width.ln() / self.delta).ln();
        let window_variance = self.variance / self.width;
        let least = self.min_window_length;
        for i in (0..self.rows.len()).rev() {
            let size = (1u64 << i) as f64;
            let row_len = self.rows[i].len;
            for k in 0..row_len {
                n0 += size;
                n1 -= size;
                let total = self.rows[i].totals[k];
                u0 += total;
                u1 -= total;
                if i == 0 && k == row_len - 1 {
                    return false;
                }
                let mean_gap = (u0 / n0) - (u1 / n1);
                if n1 >= least && n0 >= least {
                    let harmonic = 1.0 / (n0 - least + 1.0) + 1.0 / (n1 - least + 1.0);
                    let epsilon = (2.0 * harmonic * window_variance * delta_prime).sqrt()
                        + 2.0 / 3.0 * delta_prime * harmonic;
                    if mean_gap.abs() > epsilon {
                        if self.width > 0.0 {
                            self.drop_oldest_bucket();
                        }
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Everything but the settings: (width, total, variance, tick, rows of (totals, variances)).
    pub fn state(&self) -> AdwinState {
        AdwinState {
            width: self.width,
            total: self.total,
            variance: self.variance,
            tick: self.tick,
            rows: self
                .rows
                .iter()
                .map(|r| (r.totals[..r.len].to_vec(), r.variances[..r.len].to_vec()))
                .collect(),
        }
    }

    /// The saved ADWIN again; None when the state is not one ADWIN can be in.
    pub fn from_state(
        delta: f64,
        clock: u32,
        min_window_length: u32,
        s: &AdwinState,
    ) -> Option<Self> {
        let mut adwin = Adwin::new(delta, clock, min_window_length);
        if s.rows.is_empty() || s.rows.len() > 64 {
            return None;
        }
        let mut width = 0.0_f64;
        adwin.rows.clear();
        for (i, (totals, variances)) in s.rows.iter().enumerate() {
            if totals.len() != variances.len() || totals.len() > MAX_BUCKETS {
                return None;
            }
            if i > 0 && i + 1 == s.rows.len() && totals.is_empty() {
                return None; // an empty last row is always dropped
            }
            let mut row = Row::new();
            for (&t, &v) in totals.iter().zip(variances) {
                if !t.is_finite() || !v.is_finite() {
                    return None;
                }
                row.push(t, v);
            }
            width += (totals.len() as f64) * (1u64 << i) as f64;
            adwin.rows.push(row);
        }
        if width != s.width || !s.total.is_finite() || !s.variance.is_finite() {
            return None;
        }
        adwin.width = s.width;
        adwin.total = s.total;
        adwin.variance = s.variance;
        adwin.tick = s.tick;
        Some(adwin)
    }
}

/// What [`Adwin::state`] saves.
#[derive(Clone, Debug, PartialEq)]
pub struct AdwinState {
    pub width: f64,
    pub total: f64,
    pub variance: f64,
    pub tick: u32,
    pub rows: Vec<(Vec<f64>, Vec<f64>)>,
}

const CLOCK: u32 = 32; // splits tested every 32 values (river's default)
const MIN_WINDOW: u32 = 5;

/// ADWIN as a numeric series runs it: on normal scores, its delta `delta ** inflation` for
/// dependent scores, restarted after each detection (as river does).
#[derive(Clone, Debug)]
pub struct SeriesAdwin {
    configured: f64,
    adwin: Adwin,
}

pub const DETECTOR: Registration = Registration {
    name: "adwin",
    statistic: "mean_shift_sd",
    build: |s| {
        let adwin = Adwin::new(s.adwin_delta, CLOCK, MIN_WINDOW);
        Box::new(SeriesAdwin { configured: s.adwin_delta, adwin })
    },
};

impl ChangeDetector for SeriesAdwin {
    fn update(&mut self, scores: &[f64], found: &mut Vec<Detection>) {
        for (index, &z) in scores.iter().enumerate() {
            if self.adwin.update(z) {
                let level = self.adwin.delta;
                self.adwin.reset();
                found.push(Detection { index, statistic: f64::NAN, level, since: None });
            }
        }
    }

    /// Its bound grows with `sqrt(ln(1 / delta))`: `delta ** inflation`; it starts afresh.
    fn calibrate(&mut self, inflation: f64) {
        self.adwin = Adwin::new(self.configured.powf(inflation), CLOCK, MIN_WINDOW);
    }

    fn save(&self) -> Saved {
        let (a, s) = (&self.adwin, self.adwin.state());
        let field = |k: &str, v| (k.to_string(), v);
        Saved::Dict(vec![
            field("delta", Saved::Float(a.delta)),
            field("width", Saved::Float(s.width)),
            field("total", Saved::Float(s.total)),
            field("variance", Saved::Float(s.variance)),
            field("tick", Saved::Int(i64::from(s.tick))),
            field("rows", Saved::Bytes(s.rows.iter().map(|(t, _)| t.len() as u8).collect())),
            field("totals", Saved::Floats(s.rows.iter().flat_map(|r| r.0.clone()).collect())),
            field("variances", Saved::Floats(s.rows.iter().flat_map(|r| r.1.clone()).collect())),
        ])
    }

    fn load(&mut self, saved: &Saved) -> Result<(), String> {
        let lengths = saved.field("rows")?.bytes()?;
        let totals = saved.field("totals")?.floats()?;
        let variances = saved.field("variances")?.floats()?;
        if totals.len() != variances.len() {
            return Err("adwin buckets".into());
        }
        let mut rows = Vec::new();
        let mut at = 0usize;
        for &n in lengths {
            let end = at + n as usize;
            if end > totals.len() {
                return Err("adwin rows".into());
            }
            rows.push((totals[at..end].to_vec(), variances[at..end].to_vec()));
            at = end;
        }
        if at != totals.len() {
            return Err("adwin rows".into());
        }
        let delta = saved.field("delta")?.finite()?;
        if !(0.0..1.0).contains(&delta) {
            return Err("adwin delta".into());
        }
        let tick = u32::try_from(saved.field("tick")?.int()?).map_err(|_| "adwin tick")?;
        let state = AdwinState {
            width: saved.field("width")?.finite()?,
            total: saved.field("total")?.finite()?,
            variance: saved.field("variance")?.finite()?,
            tick,
            rows,
        };
        self.adwin =
            Adwin::from_state(delta, CLOCK, MIN_WINDOW, &state).ok_or("adwin histogram")?;
        Ok(())
    }

    fn boxed_clone(&self) -> Box<dyn ChangeDetector> {
        Box::new(self.clone())
    }
}
