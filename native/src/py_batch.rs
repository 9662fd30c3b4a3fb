//! Many series updated at once, on several threads, without the GIL.
//!
//! Series are independent units, so a micro-batch's series can run in parallel: Python hands
//! over every (core, arrays) pair of the batch, the cores run on `threads` scoped threads with
//! the GIL released (each takes the next-largest job left), and the status changes come back
//! per job, in the order given. A core given twice is refused (it cannot be borrowed twice).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::categorical;
use crate::judge::Signal;
use crate::numeric;
use crate::py_categorical::CategoricalCore;
use crate::py_numeric::NumericCore;
use crate::py_series::{records, SignalRecord};
use crate::state::check;

type NumericTask<'py> = (
    Bound<'py, NumericCore>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, bool>,
    PyReadonlyArray1<'py, f64>,
);
type CategoricalTask<'py> = (
    Bound<'py, CategoricalCore>,
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray1<'py, bool>,
    PyReadonlyArray1<'py, bool>,
    PyReadonlyArray1<'py, f64>,
);

/// One series' update, with everything borrowed for the time the threads run.
enum Job<'a> {
    Numeric(&'a mut numeric::NumericCore, &'a [f64], &'a [bool], &'a [f64]),
    Categorical(&'a mut categorical::CategoricalCore, &'a [i32], &'a [bool], &'a [bool], &'a [f64]),
}

impl Job<'_> {
    fn size(&self) -> usize {
        match self {
            Job::Numeric(_, v, _, _) => v.len() * 4, // a numeric value costs several categorical
            Job::Categorical(_, c, _, _, _) => c.len(),
        }
    }

    fn run(&mut self) -> PyResult<Vec<Signal>> {
        match self {
            Job::Numeric(core, values, errors, times) => core.update(values, errors, times),
            Job::Categorical(core, codes, unseen, errors, times) => {
                core.update(codes, unseen, errors, times)
            }
        }
    }
}

/// Update every series of `numeric` and `categorical` (tuples as the cores' `update` takes
/// them, core first); the signal records of each, in the order given.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn update_all<'py>(
    py: Python<'py>,
    numeric: Vec<NumericTask<'py>>,
    categorical: Vec<CategoricalTask<'py>>,
    threads: usize,
) -> PyResult<(Vec<Vec<SignalRecord>>, Vec<Vec<SignalRecord>>)> {
    let mut numeric_cores = Vec::with_capacity(numeric.len());
    for (core, ..) in &numeric {
        numeric_cores.push(core.try_borrow_mut()?);
    }
    let mut categorical_cores = Vec::with_capacity(categorical.len());
    for (core, ..) in &categorical {
        categorical_cores.push(core.try_borrow_mut()?);
    }
    let mut jobs = Vec::with_capacity(numeric.len() + categorical.len());
    for (core, (_, values, errors, times)) in numeric_cores.iter_mut().zip(&numeric) {
        let (values, errors, times) = (values.as_slice()?, errors.as_slice()?, times.as_slice()?);
        check(values.len() == errors.len() && values.len() == times.len(), "batch lengths")?;
        jobs.push(Job::Numeric(&mut core.core, values, errors, times));
    }
    for (core, (_, codes, unseen, errors, times)) in categorical_cores.iter_mut().zip(&categorical)
    {
        let (codes, unseen) = (codes.as_slice()?, unseen.as_slice()?);
        let (errors, times) = (errors.as_slice()?, times.as_slice()?);
        let n = codes.len();
        check(unseen.len() == n && errors.len() == n && times.len() == n, "batch lengths")?;
        jobs.push(Job::Categorical(&mut core.core, codes, unseen, errors, times));
    }
    let mut results = py.detach(|| run(jobs, threads.max(1))).into_iter();
    let numeric_records: PyResult<Vec<_>> = results
        .by_ref()
        .take(numeric.len())
        .map(|r| r.map(|s| records(py, s, &numeric::KEYS)))
        .collect();
    let categorical_records: PyResult<Vec<_>> =
        results.map(|r| r.map(|s| records(py, s, &categorical::KEYS))).collect();
    Ok((numeric_records?, categorical_records?))
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
        *results[index].lock().unwrap() = Some(job.run());
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(order.len()) {
            scope.spawn(work);
        }
        work();
    });
    results.into_iter().map(|r| r.into_inner().unwrap().expect("every job ran")).collect()
}
