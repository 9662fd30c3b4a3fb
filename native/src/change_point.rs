//! The seam of the built-in change-point detectors: what each implements ([`ChangeDetector`])
//! and the one list that registers it ([`DETECTORS`]).
//!
//! A numeric series feeds every registered detector its normal scores in stream order; a
//! detection is described from the values since its estimated onset and folded into the
//! series' drift alert (`numeric::NumericCore::change_point`, the path the configured river
//! detectors' hits take too). Its saved state lives under its name in the series' state.
//! `docs/contributing-detectors.md` shows how to add one.

use std::fmt;

use crate::numeric::Settings;

/// A detection, as a detector reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Index in the batch of scores of the value that completed the detection.
    pub index: usize,
    /// The detector's statistic; NaN to report the size of the change instead (the mean
    /// shift in reference standard deviations of the values since the onset).
    pub statistic: f64,
    /// The level the statistic was compared with.
    pub level: f64,
    /// Values since the estimated onset, the deciding one included; None to estimate it from
    /// the recent scores (the CUSUM split, `stats::values_since_change`).
    pub since: Option<usize>,
}

/// A built-in change-point detector over a series' normal scores.
pub trait ChangeDetector: fmt::Debug + Send + Sync {
    /// Feed `scores` in order and append its detections to `found`, with their index in
    /// `scores`. What a detector does after a detection (restart, keep going) is its own.
    fn update(&mut self, scores: &[f64], found: &mut Vec<Detection>);

    /// Scale the level for dependent scores: window means vary `inflation` (>= 1) times more
    /// than independent values' (`numeric::NumericCore::set_dependence`). Called at the start
    /// and whenever the series learns more dependence, relative to the configured level.
    fn calibrate(&mut self, inflation: f64);

    /// The running statistic and its level, for metrics (None when there is none now).
    fn running(&self) -> Option<(f64, f64)> {
        None
    }

    /// Everything needed to continue where it is (saved under the registration's name).
    fn save(&self) -> Saved;

    /// Continue from what [`ChangeDetector::save`] wrote; Err names what is inconsistent
    /// (a hostile snapshot must not panic).
    fn load(&mut self, saved: &Saved) -> Result<(), String>;

    fn boxed_clone(&self) -> Box<dyn ChangeDetector>;
}

impl Clone for Box<dyn ChangeDetector> {
    fn clone(&self) -> Self {
        self.boxed_clone()
    }
}

/// A built-in detector: its name (the alert's `detector` and the state key), the statistic
/// an alert reports, and how to build it from the series' settings.
pub struct Registration {
    pub name: &'static str,
    pub statistic: &'static str,
    pub build: fn(&Settings) -> Box<dyn ChangeDetector>,
}

impl PartialEq for Registration {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The built-in detectors every numeric series runs, in the order they see each score.
pub static DETECTORS: &[Registration] = &[crate::adwin::DETECTOR, crate::page_hinkley::DETECTOR];

/// Saved state as plain values; `state` turns it into Python objects (arrays become numpy
/// arrays) and back.
#[derive(Clone, Debug, PartialEq)]
pub enum Saved {
    Int(i64),
    Float(f64),
    Floats(Vec<f64>),  // a float64 array
    Bytes(Vec<u8>),    // a uint8 array
    Tuple(Vec<Saved>), // read back from a tuple or a list
    List(Vec<Saved>),
    Dict(Vec<(String, Saved)>),
}

impl Saved {
    pub fn field(&self, key: &str) -> Result<&Saved, String> {
        match self {
            Saved::Dict(items) => {
                items.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or(format!("no {key}"))
            }
            _ => Err("not a dict".into()),
        }
    }

    pub fn float(&self) -> Result<f64, String> {
        match *self {
            Saved::Float(v) => Ok(v),
            Saved::Int(v) => Ok(v as f64),
            _ => Err("not a number".into()),
        }
    }

    pub fn finite(&self) -> Result<f64, String> {
        self.float().and_then(|v| if v.is_finite() { Ok(v) } else { Err("not finite".into()) })
    }

    pub fn int(&self) -> Result<i64, String> {
        match *self {
            Saved::Int(v) => Ok(v),
            _ => Err("not an integer".into()),
        }
    }

    pub fn floats(&self) -> Result<Vec<f64>, String> {
        match self {
            Saved::Floats(v) => Ok(v.clone()),
            Saved::Tuple(items) | Saved::List(items) => items.iter().map(Saved::float).collect(),
            _ => Err("not floats".into()),
        }
    }

    pub fn bytes(&self) -> Result<&[u8], String> {
        match self {
            Saved::Bytes(v) => Ok(v),
            _ => Err("not a uint8 array".into()),
        }
    }

    pub fn items(&self) -> Result<&[Saved], String> {
        match self {
            Saved::Tuple(items) | Saved::List(items) => Ok(items),
            _ => Err("not a tuple".into()),
        }
    }
}
