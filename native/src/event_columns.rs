//! The columns of one decoded batch, filled row by row from native rows and from the rows the
//! Python decoder resolved, then handed to Python as arrays and vocabularies.

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::text_index::TextIndex;

/// A text column as `Categories.from_values` builds it: codes in order of first appearance,
/// -1 for a missing text.
#[derive(Default)]
pub struct TextColumn {
    vocabulary: TextIndex,
    codes: Vec<i32>,
}

impl TextColumn {
    #[inline]
    pub fn push(&mut self, text: Option<&[u8]>) {
        self.codes.push(text.map_or(-1, |t| self.vocabulary.intern(t) as i32));
    }

    fn set(&mut self, row: usize, text: Option<&[u8]>) {
        self.codes[row] = text.map_or(-1, |t| self.vocabulary.intern(t) as i32);
    }

    /// Number the texts in order of first appearance again (rows filled later may have added
    /// texts out of order).
    fn renumber(&mut self) {
        let mut order = TextIndex::default();
        let mut remap = vec![-1_i32; self.vocabulary.len()];
        for code in &mut self.codes {
            if *code >= 0 {
                let slot = &mut remap[*code as usize];
                if *slot < 0 {
                    *slot = order.intern(self.vocabulary.text(*code as usize)) as i32;
                }
                *code = *slot;
            }
        }
        self.vocabulary = order;
    }

    /// (codes, vocabulary).
    fn into_python<'py>(
        self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyList>)> {
        let texts = self
            .vocabulary
            .texts()
            .map(|t| PyString::new(py, std::str::from_utf8(t).expect("texts are UTF-8")));
        Ok((self.codes.into_pyarray(py).into_any(), PyList::new(py, texts)?))
    }
}

#[derive(Default)]
pub struct Feature {
    pub values: Vec<f64>,
    pub errors: Vec<bool>,
}

#[derive(Default)]
pub struct Category {
    pub texts: TextColumn,
    pub errors: Vec<bool>,
}

#[derive(Default)]
pub struct Columns {
    pub positions: Vec<i64>,
    pub times: Vec<f64>,
    /// Only when an id path is configured.
    pub ids: Option<Vec<Option<String>>>,
    pub segments: Vec<TextColumn>,
    pub numeric: Vec<Feature>,
    pub categorical: Vec<Category>,
}

impl Columns {
    /// Columns for up to `rows` rows (reserved: no regrowth on the way).
    pub fn new(rows: usize, with_ids: bool, segments: usize, numeric: usize, cats: usize) -> Self {
        let text = || TextColumn { codes: Vec::with_capacity(rows), ..TextColumn::default() };
        let flags = || Vec::with_capacity(rows);
        Columns {
            positions: Vec::with_capacity(rows),
            times: Vec::with_capacity(rows),
            ids: with_ids.then(|| Vec::with_capacity(rows)),
            segments: (0..segments).map(|_| text()).collect(),
            numeric: (0..numeric)
                .map(|_| Feature { values: Vec::with_capacity(rows), errors: flags() })
                .collect(),
            categorical: (0..cats).map(|_| Category { texts: text(), errors: flags() }).collect(),
        }
    }

    pub fn rows(&self) -> usize {
        self.positions.len()
    }

    /// A row to be filled by [`Columns::fill_row`] (a record the Python decoder resolves).
    pub fn push_placeholder(&mut self, position: usize) {
        self.positions.push(position as i64);
        self.times.push(f64::NAN);
        if let Some(ids) = &mut self.ids {
            ids.push(None);
        }
        self.segments.iter_mut().for_each(|c| c.push(None));
        for feature in &mut self.numeric {
            feature.values.push(f64::NAN);
            feature.errors.push(false);
        }
        for category in &mut self.categorical {
            category.texts.push(None);
            category.errors.push(false);
        }
    }

    /// Fill placeholder `row` with a row the Python decoder made (`detector.events.Row`).
    pub fn fill_row(&mut self, row: usize, python: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = python.py();
        let time: f64 = python.getattr(pyo3::intern!(py, "time"))?.extract()?;
        let segments = python.getattr(pyo3::intern!(py, "segments"))?;
        let numeric = python.getattr(pyo3::intern!(py, "numeric"))?;
        let categorical = python.getattr(pyo3::intern!(py, "categorical"))?;
        let (segments, numeric) = (segments.cast::<PyList>()?, numeric.cast::<PyList>()?);
        let categorical = categorical.cast::<PyList>()?;
        let lengths = [segments.len(), numeric.len(), categorical.len()];
        if lengths != [self.segments.len(), self.numeric.len(), self.categorical.len()] {
            return Err(pyo3::exceptions::PyValueError::new_err("a row of the wrong shape"));
        }
        for (column, text) in self.segments.iter_mut().zip(segments.iter()) {
            column.set(row, Some(text.cast::<PyString>()?.to_str()?.as_bytes()));
        }
        for (feature, pair) in self.numeric.iter_mut().zip(numeric.iter()) {
            (feature.values[row], feature.errors[row]) = pair.extract()?;
        }
        for (category, pair) in self.categorical.iter_mut().zip(categorical.iter()) {
            let pair = pair.cast::<PyTuple>()?;
            let text = pair.get_item(0)?;
            let text = if text.is_none() { None } else { Some(text.cast_into::<PyString>()?) };
            let text = text.as_ref().map(|t| t.to_str()).transpose()?.map(str::as_bytes);
            category.texts.set(row, text);
            category.errors[row] = pair.get_item(1)?.extract()?;
        }
        if let Some(ids) = &mut self.ids {
            ids[row] = python.getattr(pyo3::intern!(py, "ident"))?.extract()?;
        }
        self.times[row] = time;
        Ok(())
    }

    /// After placeholders were filled: vocabularies in order of first appearance again.
    pub fn renumber(&mut self) {
        self.segments.iter_mut().for_each(TextColumn::renumber);
        self.categorical.iter_mut().for_each(|c| c.texts.renumber());
    }

    /// Keep only the rows `keep` marks (placeholders whose record was rejected go).
    pub fn retain(&mut self, keep: &[bool]) {
        fn filter<T: Copy>(column: &mut Vec<T>, keep: &[bool]) {
            let mut kept = keep.iter();
            column.retain(|_| *kept.next().expect("one flag per row"));
        }
        filter(&mut self.positions, keep);
        filter(&mut self.times, keep);
        if let Some(ids) = &mut self.ids {
            let mut kept = keep.iter();
            ids.retain(|_| *kept.next().expect("one flag per row"));
        }
        self.segments.iter_mut().for_each(|c| filter(&mut c.codes, keep));
        for feature in &mut self.numeric {
            filter(&mut feature.values, keep);
            filter(&mut feature.errors, keep);
        }
        for category in &mut self.categorical {
            filter(&mut category.texts.codes, keep);
            filter(&mut category.errors, keep);
        }
    }
}

/// The columns as Python objects.
#[pyclass(module = "detector._native", frozen, get_all)]
pub struct DecodedEvents {
    pub positions: Py<PyAny>,
    pub times: Py<PyAny>,
    /// `None` without an id path.
    pub ids: Option<Py<PyList>>,
    /// (codes, vocabulary) per segment dimension.
    pub segments: Py<PyList>,
    /// (values, type errors) per numeric feature.
    pub numeric: Py<PyList>,
    /// (codes, vocabulary, type errors) per categorical feature.
    pub categorical: Py<PyList>,
    /// (position, reason, message) of the rejected records, in order.
    pub rejections: Py<PyList>,
    /// The batch rows whose paths are schema samples.
    pub samples: Py<PyList>,
    /// Events accepted so far, this batch included.
    pub accepted: u64,
}

impl Columns {
    pub fn into_python(
        self,
        py: Python<'_>,
        rejections: Vec<(usize, String, String)>,
        samples: Vec<usize>,
        accepted: u64,
    ) -> PyResult<DecodedEvents> {
        let mut segments = Vec::with_capacity(self.segments.len());
        for column in self.segments {
            segments.push(column.into_python(py)?);
        }
        let mut numeric = Vec::with_capacity(self.numeric.len());
        for f in self.numeric {
            numeric.push((f.values.into_pyarray(py), f.errors.into_pyarray(py)));
        }
        let mut categorical = Vec::with_capacity(self.categorical.len());
        for c in self.categorical {
            let (codes, vocabulary) = c.texts.into_python(py)?;
            categorical.push((codes, vocabulary, c.errors.into_pyarray(py)));
        }
        Ok(DecodedEvents {
            positions: self.positions.into_pyarray(py).into_any().unbind(),
            times: self.times.into_pyarray(py).into_any().unbind(),
            ids: self.ids.map(|ids| PyList::new(py, ids)).transpose()?.map(Bound::unbind),
            segments: PyList::new(py, segments)?.unbind(),
            numeric: PyList::new(py, numeric)?.unbind(),
            categorical: PyList::new(py, categorical)?.unbind(),
            rejections: PyList::new(py, rejections)?.unbind(),
            samples: PyList::new(py, samples)?.unbind(),
            accepted,
        })
    }
}
