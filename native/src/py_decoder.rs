//! `EventDecoder`: a batch of raw records to columns, `detector.events.Decoder.decode`'s hot
//! path. Records it reads with certainty are decoded here; every other one goes to `resolve`
//! (the Python per-record decoder), whose row or rejection is used at its position.

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString};

use crate::event_columns::{Columns, DecodedEvents};
use crate::event_paths::{PathTree, Step};
use crate::event_rules::{self as rules, Texts};
use crate::event_walk::{Value, Walk};
use crate::json_scan::Scanner;

/// Decodes batches of JSON events at the configured paths (see `detector.events.Decoder`).
#[pyclass(module = "detector._native")]
pub struct EventDecoder {
    tree: PathTree,
    /// Slots of the id and time paths, then of each segment, numeric and categorical path.
    id: Option<usize>,
    time: Option<usize>,
    segments: Vec<usize>,
    numeric: Vec<usize>,
    categorical: Vec<usize>,
    max_bytes: usize,
    sample_every: u64,
    walk: Walk,
    scratch: String,
}

fn steps(path: &Bound<'_, PyAny>) -> PyResult<Vec<Step>> {
    let mut steps = Vec::new();
    for step in path.try_iter()? {
        let step = step?;
        if let Ok(key) = step.cast::<PyString>() {
            steps.push(Step::Key(key.to_str()?.to_owned()));
        } else if step.is_exact_instance_of::<PyInt>() {
            if step.lt(0)? {
                return Err(PyValueError::new_err("a list index step is negative"));
            }
            let index = step.extract::<usize>().ok();
            steps.push(Step::Index { index, key: step.str()?.to_str()?.to_owned() });
        } else {
            return Err(PyValueError::new_err("a path step is a str or an int"));
        }
    }
    Ok(steps)
}

/// Whether the Python rules give this row with certainty (else: defer it).
fn is_native(d: &EventDecoder, values: &[Value]) -> bool {
    d.id.is_none_or(|s| rules::id_is_native(values[s]))
        && d.segments.iter().all(|&s| rules::segment_is_native(values[s]))
        && d.categorical.iter().all(|&s| rules::categorical_is_native(values[s]))
}

#[pymethods]
impl EventDecoder {
    /// Paths are compiled ones (`detector.events._compile_path`): tuples of str and int steps.
    #[new]
    #[pyo3(signature = (id, time, segments, numeric, categorical, max_bytes, sample_every))]
    fn new(
        id: Option<Bound<'_, PyAny>>,
        time: Option<Bound<'_, PyAny>>,
        segments: Vec<Bound<'_, PyAny>>,
        numeric: Vec<Bound<'_, PyAny>>,
        categorical: Vec<Bound<'_, PyAny>>,
        max_bytes: usize,
        sample_every: u64,
    ) -> PyResult<Self> {
        if sample_every == 0 {
            return Err(PyValueError::new_err("sample_every must be positive"));
        }
        let fixed = [&id, &time];
        let all = fixed.iter().filter_map(|p| p.as_ref()).chain(&segments).chain(&numeric);
        let paths = all.chain(&categorical).map(steps).collect::<PyResult<Vec<_>>>()?;
        let tree = PathTree::new(&paths).map_err(PyValueError::new_err)?;
        let mut slots = tree.path_slots.clone().into_iter();
        let mut next = |present: bool| present.then(|| slots.next().expect("one per path"));
        let (id, time) = (next(id.is_some()), next(time.is_some()));
        let mut take = |n: usize| (0..n).map(|_| next(true).unwrap()).collect::<Vec<_>>();
        let (segments, numeric) = (take(segments.len()), take(numeric.len()));
        let categorical = take(categorical.len());
        Ok(EventDecoder {
            tree,
            id,
            time,
            segments,
            numeric,
            categorical,
            max_bytes,
            sample_every,
            walk: Walk::default(),
            scratch: String::new(),
        })
    }

    /// Decode `values` in order. `default_times[i]`: record i's time without a time path
    /// (unread with one);
    /// `accepted`: events accepted before this batch (schema samples are every
    /// `sample_every`-th accepted event); `resolve(position, raw)`: the Python decoder's `Row`
    /// or `Rejection` for a record this one leaves to it.
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        values: &Bound<'py, PyList>,
        default_times: PyReadonlyArray1<'py, f64>,
        accepted: u64,
        resolve: &Bound<'py, PyAny>,
    ) -> PyResult<DecodedEvents> {
        let default_times = default_times.as_slice()?;
        if self.time.is_none() && default_times.len() < values.len() {
            return Err(PyValueError::new_err("fewer default times than values"));
        }
        // The records' bytes are read in place while the GIL is released: the list holds them.
        let items: Vec<Bound<'py, PyAny>> = values.iter().collect();
        let inputs: Vec<Input<'_>> = items.iter().map(Input::of).collect();
        let (mut columns, mut rejections, deferred) =
            py.detach(|| self.scan(&inputs, default_times));
        let mut keep = vec![true; columns.rows()];
        let filled = !deferred.is_empty();
        for (position, row) in deferred {
            let outcome = resolve.call1((position, &items[position]))?;
            if let Ok(reason) = outcome.getattr(pyo3::intern!(py, "reason")) {
                let message = outcome.getattr(pyo3::intern!(py, "message"))?;
                rejections.push((position, reason.extract()?, message.extract()?));
                keep[row] = false;
            } else {
                columns.fill_row(row, &outcome)?;
            }
        }
        if keep.contains(&false) {
            columns.retain(&keep);
            rejections.sort_by_key(|r| r.0);
        }
        if filled {
            columns.renumber(); // texts added out of row order
        }
        // Schema samples: every `sample_every`-th accepted event, counted across batches.
        let every = self.sample_every;
        let samples = (0..columns.rows()).filter(|&r| (accepted + r as u64).is_multiple_of(every));
        let samples = samples.collect();
        let accepted = accepted + columns.rows() as u64;
        columns.into_python(py, rejections, samples, accepted)
    }
}

/// A record as the scan reads it: its bytes, no value, or a Python object to resolve.
enum Input<'a> {
    Bytes(&'a [u8]),
    Missing,
    Python,
}

impl<'a> Input<'a> {
    fn of(value: &'a Bound<'_, PyAny>) -> Self {
        if value.is_none() {
            return Input::Missing;
        }
        // Exactly bytes: orjson rejects subclasses, so they go to Python.
        match value.cast_exact::<PyBytes>() {
            Ok(bytes) => Input::Bytes(bytes.as_bytes()),
            Err(_) => Input::Python,
        }
    }
}

type Rejections = Vec<(usize, String, String)>;

impl EventDecoder {
    /// Decode every record it can, in order, without Python: the columns (a placeholder row
    /// for each record left to Python), the rejections made here, and the (position, row) of
    /// each placeholder.
    fn scan(
        &mut self,
        inputs: &[Input<'_>],
        default_times: &[f64],
    ) -> (Columns, Rejections, Vec<(usize, usize)>) {
        let mut columns = Columns::new(
            inputs.len(),
            self.id.is_some(),
            self.segments.len(),
            self.numeric.len(),
            self.categorical.len(),
        );
        let (mut rejections, mut deferred) = (Vec::new(), Vec::new());
        for (position, input) in inputs.iter().enumerate() {
            match input {
                Input::Missing => {
                    rejections.push((position, "not_json".into(), "record has no value".into()));
                    continue;
                }
                Input::Bytes(raw) if raw.len() > self.max_bytes => {
                    let message = format!("{} bytes > {}", raw.len(), self.max_bytes);
                    rejections.push((position, "too_large".into(), message));
                    continue;
                }
                Input::Bytes(raw) => {
                    let default_time = default_times.get(position).copied().unwrap_or(f64::NAN);
                    if self.native(raw, position, default_time, &mut columns) {
                        continue;
                    }
                }
                Input::Python => {}
            }
            deferred.push((position, columns.rows()));
            columns.push_placeholder(position);
        }
        (columns, rejections, deferred)
    }
}

impl EventDecoder {
    /// Decode `raw` into `columns` if its row is certain; false: leave it to Python.
    fn native(
        &mut self,
        raw: &[u8],
        position: usize,
        default_time: f64,
        columns: &mut Columns,
    ) -> bool {
        if self.walk.record(&self.tree, &mut Scanner::new(raw)).is_err() {
            return false;
        }
        let values = &self.walk.values;
        let mut texts = Texts { buf: raw, scratch: std::mem::take(&mut self.scratch) };
        let time = match self.time {
            Some(slot) => rules::time(values[slot], &mut texts),
            None => Some(default_time),
        };
        // A time out of range (configured or default) is a rejection: Python writes it.
        let time = time.filter(|&t| rules::time_in_range(t) && is_native(self, values));
        let Some(time) = time else {
            self.scratch = texts.scratch;
            return false;
        };
        if let (Some(ids), Some(slot)) = (&mut columns.ids, self.id) {
            let text = |t| std::str::from_utf8(t).expect("the scanner checked UTF-8").to_owned();
            ids.push(texts.id(values[slot]).map(text));
        }
        for (column, &slot) in columns.segments.iter_mut().zip(&self.segments) {
            column.push(Some(texts.segment(values[slot])));
        }
        for (feature, &slot) in columns.numeric.iter_mut().zip(&self.numeric) {
            let (value, error) = rules::numeric(values[slot]);
            feature.values.push(value);
            feature.errors.push(error);
        }
        for (category, &slot) in columns.categorical.iter_mut().zip(&self.categorical) {
            let (text, error) = texts.categorical(values[slot]);
            category.texts.push(text);
            category.errors.push(error);
        }
        columns.times.push(time);
        columns.positions.push(position as i64);
        self.scratch = texts.scratch;
        true
    }
}
