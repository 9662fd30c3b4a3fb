//! What a window test, quality check or change-point detector reports: its name as the alert
//! contract spells it, its value against its threshold, and an alert's severity.

/// A test's or check's name, as the alert contract spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Test {
    Psi = 0,
    Js = 1,
    Ks = 2,
    Wasserstein = 3,
    ChiSquare = 4,
    MissingRate = 5,
    TypeErrors = 6,
    OutOfRange = 7,
    Constant = 8,
    UnseenCategories = 9,
    Adwin = 10,
    PageHinkley = 11,
    Plugin = 12,
}

const TESTS: [(Test, &str); 13] = [
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
    (Test::Adwin, "adwin"),
    (Test::PageHinkley, "page_hinkley"),
    (Test::Plugin, "plugin"), // a configured detector that runs in Python (its name is there)
];

impl Test {
    pub fn name(self) -> &'static str {
        TESTS[self as usize].1
    }

    pub fn from_code(code: u8) -> Option<Test> {
        TESTS.get(code as usize).map(|(t, _)| *t)
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
