//! What a window test, quality check or change-point detector reports: its name as the alert
//! contract spells it, its value against its threshold, and an alert's severity.

use crate::change_point::{Registration, DETECTORS};

/// A test's, check's or detector's name, as the alert contract spells it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Test {
    Psi,
    Js,
    Ks,
    Wasserstein,
    ChiSquare,
    MissingRate,
    TypeErrors,
    OutOfRange,
    Constant,
    UnseenCategories,
    /// A configured detector that runs in Python (its name is there).
    Plugin,
    /// A built-in change-point detector (`change_point::DETECTORS`).
    Detector(&'static Registration),
}

/// The window tests and checks by their code in saved state (a saved window's outcomes).
const SAVED: [(Test, &str); 10] = [
    (Test::Psi, "psi"),
    (Test::Js, "js"),
    (Test::Ks, "ks"),
    (Test::Wasserstein, "wasserstein"),
    (Test::ChiSquare, "chi_square"),
    (Test::MissingRate, "missing_rate"),
    (Test::TypeErrors, "type_errors"),
    (Test::OutOfRange, "out_of_range"),
    (Test::Constant, "constant"),
    (Test::UnseenCategories, "unseen_categories"),
];
const PLUGIN_CODE: u8 = 12; // 10 and 11 were ADWIN's and Page-Hinkley's before the registry
const DETECTOR_CODES: u8 = 16; // + the index in DETECTORS

impl Test {
    pub fn name(self) -> &'static str {
        match self {
            Test::Plugin => "plugin",
            Test::Detector(r) => r.name,
            _ => SAVED[self.code() as usize].1,
        }
    }

    /// The statistic an alert reports: a detector's own, else the test's name.
    pub fn statistic(self) -> &'static str {
        match self {
            Test::Plugin => "drift_detected",
            Test::Detector(r) => r.statistic,
            _ => self.name(),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Test::Plugin => PLUGIN_CODE,
            Test::Detector(r) => {
                DETECTOR_CODES + DETECTORS.iter().position(|d| d == r).unwrap_or(239) as u8
            }
            _ => SAVED.iter().position(|(t, _)| *t == self).unwrap_or(0) as u8,
        }
    }

    pub fn from_code(code: u8) -> Option<Test> {
        match code {
            PLUGIN_CODE => Some(Test::Plugin),
            c if c >= DETECTOR_CODES => {
                DETECTORS.get((c - DETECTOR_CODES) as usize).map(Test::Detector)
            }
            c => SAVED.get(c as usize).map(|(t, _)| *t),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub test: Test,
    pub value: f64,
    pub threshold: f64,
}

impl Outcome {
    pub fn fired(&self) -> bool {
        self.value > self.threshold
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Severity {
    Critical = 0,
    Warning = 1,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}
