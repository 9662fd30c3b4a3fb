//! Many series updated at once, on several threads, without the GIL.
//!
//! Series are independent units, so a micro-batch's series can run in parallel: Python hands
//! over every (core, arrays) pair of the batch, the cores run on `threads` scoped threads with
//! the GIL released (each takes the next-largest job left), and the status changes come back
//! per job, in the order given. A core given twice is refused (it cannot be borrowed twice).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::categorical;
use crate::judge::Signal;
use crate::numeric;
use crate::outcome::Test;
use crate::py_categorical::CategoricalCore;
use crate::py_numeric::NumericCore;
use crate::py_series::{records, SignalRecord};
use crate::state::{check, invalid};
use crate::window::Rows;

type Array<'py, T> = PyReadonlyArray1<'py, T>;
type Index<'py> = Option<Array<'py, i64>>;
pub type NumericArrays<'py> = (Array<'py, f64>, Array<'py, bool>, Array<'py, f64>, Index<'py>);
pub type CategoricalArrays<'py> = (
    Array<'py, i32>,
    Array<'py, i32>,
    Array<'py, bool>,
    Array<'py, bool>,
    Array<'py, f64>,
    Index<'py>,
);
type NumericTask<'py> = (Bound<'py, NumericCore>, NumericArrays<'py>);
type CategoricalTask<'py> = (Bound<'py, CategoricalCore>, CategoricalArrays<'py>);

/// A numeric series' events: the batch's columns and the series' rows (None: all of them).
pub struct NumericInput<'a> {
    values: &'a [f64],
    errors: &'a [bool],
    times: &'a [f64],
    rows: Rows<'a>,
}

impl<'a> NumericInput<'a> {
    pub fn new(arrays: &'a NumericArrays<'_>) -> PyResult<Self> {
        let (values, errors, times, rows) = arrays;
        let (values, errors, times) = (values.as_slice()?, errors.as_slice()?, times.as_slice()?);
        let n = values.len();
        check(errors.len() == n && times.len() == n, "batch lengths")?;
        let rows = rows.as_ref().map(|r| r.as_slice()).transpose()?;
        let rows = Rows::new(rows, n).ok_or_else(|| invalid("rows outside the batch"))?;
        Ok(NumericInput { values, errors, times, rows })
    }

    pub fn run(&self, core: &mut numeric::NumericCore) -> PyResult<Vec<Signal>> {
        Ok(core.update(self.values, self.errors, self.times, self.rows))
    }
}

/// A categorical series' events: the column's codes, the per-text tables, the series' rows.
pub struct CategoricalInput<'a> {
    texts: &'a [i32],
    table: &'a [i32],
    unseen: &'a [bool],
    errors: &'a [bool],
    times: &'a [f64],
    rows: Rows<'a>,
}

impl<'a> CategoricalInput<'a> {
    pub fn new(arrays: &'a CategoricalArrays<'_>) -> PyResult<Self> {
        let (texts, table, unseen, errors, times, rows) = arrays;
        let (texts, table, unseen) = (texts.as_slice()?, table.as_slice()?, unseen.as_slice()?);
        let (errors, times) = (errors.as_slice()?, times.as_slice()?);
        let n = texts.len();
        check(errors.len() == n && times.len() == n, "batch lengths")?;
        check(unseen.len() == table.len(), "a table per vocabulary entry")?;
        let vocabulary = table.len() as i32;
        check(texts.iter().all(|&t| (-1..vocabulary).contains(&t)), "codes in the vocabulary")?;
        let rows = rows.as_ref().map(|r| r.as_slice()).transpose()?;
        let rows = Rows::new(rows, n).ok_or_else(|| invalid("rows outside the batch"))?;
        Ok(CategoricalInput { texts, table, unseen, errors, times, rows })
    }

    pub fn run(&self, core: &mut categorical::CategoricalCore) -> PyResult<Vec<Signal>> {
        Ok(core.update(self.texts, self.table, self.unseen, self.errors, self.times, self.rows))
    }
}

/// One series' update, with everything borrowed for the time the threads run.
enum Job<'a> {
    Numeric(&'a mut numeric::NumericCore, NumericInput<'a>),
    Categorical(&'a mut categorical::CategoricalCore, CategoricalInput<'a>),
}

impl Job<'_> {
    fn size(&self) -> usize {
        match self {
            Job::Numeric(_, input) => input.rows.len() * 4, // a numeric value costs more
            Job::Categorical(_, input) => input.rows.len(),
        }
    }

    fn run(&mut self) -> PyResult<Vec<Signal>> {
        match self {
            Job::Numeric(core, input) => input.run(core),
            Job::Categorical(core, input) => input.run(core),
        }
    }
}

/// Update every series of `numeric` and `categorical`: (core, arguments of its `update`); the
/// signal records of each, in the order given.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn update_all<'py>(
    py: Python<'py>,
    numeric: Vec<NumericTask<'py>>,
    categorical: Vec<CategoricalTask<'py>>,
    threads: usize,
) -> PyResult<(Vec<Outcome>, Vec<Outcome>)> {
    let mut numeric_cores = Vec::with_capacity(numeric.len());
    for (core, ..) in &numeric {
        numeric_cores.push(core.try_borrow_mut()?);
    }
    let mut categorical_cores = Vec::with_capacity(categorical.len());
    for (core, ..) in &categorical {
        categorical_cores.push(core.try_borrow_mut()?);
    }
    let mut jobs = Vec::with_capacity(numeric.len() + categorical.len());
    for (core, (_, arrays)) in numeric_cores.iter_mut().zip(&numeric) {
        jobs.push(Job::Numeric(&mut core.core, NumericInput::new(arrays)?));
    }
    for (core, (_, arrays)) in categorical_cores.iter_mut().zip(&categorical) {
        jobs.push(Job::Categorical(&mut core.core, CategoricalInput::new(arrays)?));
    }
    let mut results = py.detach(|| run(jobs, threads.max(1))).into_iter();
    let numeric_records =
        results.by_ref().take(numeric.len()).map(|r| outcome(py, r, &numeric::KEYS)).collect();
    let categorical_records = results.map(|r| outcome(py, r, &categorical::KEYS)).collect();
    Ok((numeric_records, categorical_records))
}

/// A job's status changes, or why it failed (its core may be half updated: the caller
/// replaces that series; the other jobs' results stand).
#[derive(IntoPyObject)]
pub enum Outcome {
    Records(Vec<SignalRecord>),
    Failed(String),
}

fn outcome(py: Python<'_>, result: PyResult<Vec<Signal>>, keys: &[Test]) -> Outcome {
    match result {
        Ok(signals) => Outcome::Records(records(py, signals, keys)),
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

fn message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown".to_owned()
    }
}

/// Run the jobs on up to `threads` threads, largest first; results in job order.
fn run(jobs: Vec<Job<'_>>, threads: usize) -> Vec<PyResult<Vec<Signal>>> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].size()));
    let slots: Vec<Mutex<Option<Job<'_>>>> =
        jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<PyResult<Vec<Signal>>>>> =
        slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let taken = next.fetch_add(1, Ordering::Relaxed);
        let Some(&index) = order.get(taken) else { break };
        let mut job = slots[index].lock().unwrap().take().expect("each job runs once");
        // A panic fails its own job, not the batch: the other series' updates stand.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))
            .unwrap_or_else(|panic| {
                Err(PyRuntimeError::new_err(format!("the core panicked: {}", message(&panic))))
            });
        *results[index].lock().unwrap() = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(order.len()) {
            scope.spawn(work);
        }
        work();
    });
    results.into_iter().map(|r| r.into_inner().unwrap().expect("every job ran")).collect()
}
