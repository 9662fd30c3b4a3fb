//! Reading and writing saved state as plain Python dicts of numbers and numpy arrays.
//!
//! `detector.state.codec` stores those dicts (arrays as raw bytes of allow-listed dtypes); a
//! hostile snapshot can only give wrong numbers, which the readers here refuse with ValueError
//! (lengths, ranges, finiteness), never a panic.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyTuple};

use crate::change_point::Saved;

pub fn invalid(what: &str) -> PyErr {
    PyValueError::new_err(format!("saved state: {what}"))
}

/// A dict that is read key by key, naming the missing or wrong key in its error.
pub struct Fields<'py> {
    dict: Bound<'py, PyDict>,
}

impl<'py> Fields<'py> {
    pub fn new(value: &Bound<'py, PyAny>) -> PyResult<Self> {
        Ok(Fields { dict: value.cast::<PyDict>().map_err(|_| invalid("not a dict"))?.clone() })
    }

    pub fn any(&self, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.dict.get_item(key)?.ok_or_else(|| invalid(&format!("{key} is missing")))
    }

    pub fn get<T: for<'a> FromPyObject<'a, 'py>>(&self, key: &str) -> PyResult<T> {
        self.any(key)?.extract::<T>().map_err(|_| invalid(&format!("{key} has the wrong type")))
    }

    pub fn f64(&self, key: &str) -> PyResult<f64> {
        self.get::<f64>(key)
    }

    pub fn finite(&self, key: &str) -> PyResult<f64> {
        let v = self.f64(key)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(invalid(&format!("{key} is not finite")))
        }
    }

    pub fn u64(&self, key: &str) -> PyResult<u64> {
        self.get::<u64>(key)
    }

    pub fn dict(&self, key: &str) -> PyResult<Fields<'py>> {
        Fields::new(&self.any(key)?)
    }

    pub fn optional_f64(&self, key: &str) -> PyResult<Option<f64>> {
        let value = self.any(key)?;
        if value.is_none() {
            Ok(None)
        } else {
            self.f64(key).map(Some)
        }
    }

    /// A 1-d numpy array of exactly this dtype, copied out.
    pub fn array<T: numpy::Element + Copy>(&self, key: &str) -> PyResult<Vec<T>> {
        let value = self.any(key)?;
        let array = value
            .cast::<PyArray1<T>>()
            .map_err(|_| invalid(&format!("{key} is not a 1-d array of the right dtype")))?;
        let readonly = array.try_readonly()?;
        Ok(readonly.as_array().iter().copied().collect())
    }

    pub fn finite_array(&self, key: &str) -> PyResult<Vec<f64>> {
        let values = self.array::<f64>(key)?;
        if values.iter().all(|v| v.is_finite()) {
            Ok(values)
        } else {
            Err(invalid(&format!("{key} holds a non-finite value")))
        }
    }

    pub fn optional_array(&self, key: &str) -> PyResult<Option<Vec<f64>>> {
        if self.any(key)?.is_none() {
            Ok(None)
        } else {
            self.finite_array(key).map(Some)
        }
    }
}

/// Writes a dict of numbers and arrays.
pub struct Writer<'py> {
    pub py: Python<'py>,
    pub dict: Bound<'py, PyDict>,
}

impl<'py> Writer<'py> {
    pub fn new(py: Python<'py>) -> Self {
        Writer { py, dict: PyDict::new(py) }
    }

    pub fn set<T: IntoPyObject<'py>>(&self, key: &str, value: T) -> PyResult<()> {
        self.dict.set_item(key, value)
    }

    pub fn array<T: numpy::Element>(&self, key: &str, values: Vec<T>) -> PyResult<()> {
        self.dict.set_item(key, values.into_pyarray(self.py))
    }

    pub fn list<T: IntoPyObject<'py>, I: IntoIterator<Item = T>>(
        &self,
        key: &str,
        values: I,
    ) -> PyResult<()> {
        let list = PyList::empty(self.py);
        for v in values {
            list.append(v)?;
        }
        self.dict.set_item(key, list)
    }

    pub fn finish(self) -> Bound<'py, PyDict> {
        self.dict
    }
}

pub fn check(ok: bool, what: &str) -> PyResult<()> {
    if ok {
        Ok(())
    } else {
        Err(invalid(what))
    }
}

/// A detector's saved state as Python objects: arrays become numpy arrays, tuples and lists
/// stay so, numbers Python numbers.
pub fn saved_to<'py>(py: Python<'py>, saved: &Saved) -> PyResult<Bound<'py, PyAny>> {
    Ok(match saved {
        Saved::Int(v) => v.into_pyobject(py)?.into_any(),
        Saved::Float(v) => v.into_pyobject(py)?.into_any(),
        Saved::Floats(v) => v.clone().into_pyarray(py).into_any(),
        Saved::Bytes(v) => v.clone().into_pyarray(py).into_any(),
        Saved::Tuple(items) => {
            let items = items.iter().map(|s| saved_to(py, s)).collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Saved::List(items) => {
            let items = items.iter().map(|s| saved_to(py, s)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Saved::Dict(items) => {
            let dict = PyDict::new(py);
            for (key, value) in items {
                dict.set_item(key, saved_to(py, value)?)?;
            }
            dict.into_any()
        }
    })
}

/// What [`saved_to`] wrote, read back; ValueError for anything else.
pub fn saved_from(value: &Bound<'_, PyAny>) -> PyResult<Saved> {
    if let Ok(array) = value.cast::<PyArray1<f64>>() {
        return Ok(Saved::Floats(array.try_readonly()?.as_array().to_vec()));
    }
    if let Ok(array) = value.cast::<PyArray1<u8>>() {
        return Ok(Saved::Bytes(array.try_readonly()?.as_array().to_vec()));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut items = Vec::new();
        for (key, value) in dict.iter() {
            let key: String = key.extract().map_err(|_| invalid("a key is not a string"))?;
            items.push((key, saved_from(&value)?));
        }
        return Ok(Saved::Dict(items));
    }
    if value.is_instance_of::<PyTuple>() || value.is_instance_of::<PyList>() {
        let items: Vec<Bound<'_, PyAny>> = value.extract()?;
        return Ok(Saved::Tuple(items.iter().map(saved_from).collect::<PyResult<_>>()?));
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        return Ok(Saved::Int(value.extract().map_err(|_| invalid("an integer is too large"))?));
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(Saved::Float(value.extract()?));
    }
    Err(invalid("a detector's state holds an unexpected value"))
}
