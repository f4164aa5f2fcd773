//! Settings from Python: integers and seconds checked by `crate::limits`,
//! with a `ValueError` that names the setting and what it accepts.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

/// Largest entry count a setting accepts (the LRU's slot index limit).
pub const MAX_ENTRIES: u64 = u32::MAX as u64 - 1;

/// An integer setting from `min` to `max`; anything else is a `ValueError`.
pub fn count_setting(name: &str, value: &Bound<'_, PyAny>, min: u64, max: u64) -> PyResult<u64> {
    // The type first: extracting from a float would convert it (with a
    // DeprecationWarning on Python 3.9).
    let is_int = value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>();
    let as_int = is_int.then(|| value.extract::<i128>().ok()).flatten();
    let Some(n) = as_int else {
        return Err(PyValueError::new_err(format!(
            "{name} must be an integer from {min} to {max}, got {}",
            value.repr()?
        )));
    };
    crate::limits::count(name, n, min, max).map_err(PyValueError::new_err)
}

/// A setting in seconds (int or float); anything else is a `ValueError`.
pub fn seconds_setting(name: &str, value: &Bound<'_, PyAny>, zero_ok: bool) -> PyResult<Duration> {
    let number = (!value.is_instance_of::<PyBool>())
        .then(|| value.extract::<f64>().ok())
        .flatten();
    let Some(seconds) = number else {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds, got {}",
            value.repr()?
        )));
    };
    crate::limits::seconds(name, seconds, zero_ok).map_err(PyValueError::new_err)
}
