//! Tumbling windows over a series' events, closed by event count or by event time, and the
//! settings every series' windows share (`detector.windows` documents the boundaries).

/// Window and alert settings of one series, fixed at its start.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    pub window: usize, // events per count window (and values kept to describe a change)
    pub window_seconds: Option<f64>,
    pub min_window_values: usize,
    pub resolve_windows: u64,
    pub critical_shift: f64,
    pub alpha: f64,
    pub resolve_alpha: f64,
    pub chi2_level: f64,
    pub chi2_resolve_level: f64,
    pub missing: (f64, f64), // beta-binomial priors of the rate checks
    pub type_errors: (f64, f64),
    // How much more a window's missing count varies than independent events' (missingness
    // that follows the time of day, outages in runs): the check counts at n / inflation.
    pub missing_inflation: f64,
}

impl Windows {
    /// A window's (missing, events) at the effective sample size of the missing check.
    pub fn missing_counts(&self, missing: u64, events: u64) -> (u64, u64) {
        if self.missing_inflation <= 1.0 {
            return (missing, events);
        }
        let effective = |count: u64| (count as f64 / self.missing_inflation).round() as u64;
        (effective(missing), effective(events).max(1))
    }
}

/// Where windows end. Count windows end every `window` events; time windows end before the first
/// event at or past `start + seconds`, so a window never mixes two periods.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clock {
    pub filled: usize,
    pub started: Option<f64>,
}

impl Clock {
    /// Before an event at time `t`: must the open window close first (time windows)?
    #[inline]
    pub fn ends_before(&mut self, s: &Windows, t: f64) -> bool {
        let Some(seconds) = s.window_seconds else {
            return false;
        };
        match self.started {
            Some(start) if t >= start + seconds => {
                self.started = Some(t);
                true
            }
            Some(_) => false,
            None => {
                self.started = Some(t);
                false
            }
        }
    }

    /// After an event: does it complete the open window (count windows)?
    #[inline]
    pub fn ends_with(&mut self, s: &Windows) -> bool {
        if s.window_seconds.is_some() {
            return false;
        }
        self.filled += 1;
        if self.filled == s.window {
            self.filled = 0;
            return true;
        }
        false
    }
}

/// Events, missing values and type errors seen: a series' totals, or its open window's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub events: u64,
    pub missing: u64,
    pub errors: u64,
}

impl Counts {
    /// One event; a type error is not also counted as missing.
    #[inline]
    pub fn add(&mut self, error: bool, missing: bool) {
        self.events += 1;
        if error {
            self.errors += 1;
        } else if missing {
            self.missing += 1;
        }
    }
}

/// Which events of a batch's columns are a series': all of them, or the given row indexes (the
/// rows of a segment value, shared by every field, so no series copies its values).
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    rows: Option<&'a [i64]>,
    len: usize,
}

impl<'a> Rows<'a> {
    /// `rows` of columns `columns` long; None if an index is outside them.
    pub fn new(rows: Option<&'a [i64]>, columns: usize) -> Option<Self> {
        match rows {
            None => Some(Rows { rows: None, len: columns }),
            Some(r) if r.iter().all(|&i| 0 <= i && (i as usize) < columns) => {
                Some(Rows { rows: Some(r), len: r.len() })
            }
            Some(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The column index of the series' `p`-th event.
    #[inline]
    pub fn at(&self, p: usize) -> usize {
        match self.rows {
            None => p,
            Some(r) => r[p] as usize,
        }
    }
}
