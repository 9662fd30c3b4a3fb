//! `detector.events`' rules for one value, for the values whose Python result is certain:
//! `parse_time`, `str(ident)`, `segment_text`, `numeric_value` and `categorical_value`.
//!
//! Each `*_is_native` tells whether the value is one of those; only then is the record's row
//! built here (the others need Python's repr, orjson.dumps or datetime, or make a rejection).

use crate::event_walk::Value;
use crate::json_scan::{unescape, Span};
use crate::rfc3339;

pub const MISSING_SEGMENT: &str = "__missing__";
const MAX_SEGMENT_CHARS: usize = 200;
/// Epoch seconds reach 1e11 in the year 5138; larger numbers are milliseconds.
const MILLIS_ABOVE: f64 = 1e11;
/// `detector.events.TIME_START` and `TIME_END`: 1970-01-01T00:00:00Z up to, not including,
/// 2200-01-01T00:00:00Z, in epoch seconds.
const TIME_START: f64 = 0.0;
const TIME_END: f64 = 7_258_118_400.0;

/// The record a row's values come from, and room to decode escaped strings. Texts are UTF-8
/// bytes (the scanner checked them): the vocabularies hash bytes, nothing needs a `str`.
pub struct Texts<'a> {
    pub buf: &'a [u8],
    pub scratch: String,
}

impl<'a> Texts<'a> {
    fn string(&mut self, span: Span) -> &[u8] {
        let raw = span.of(self.buf);
        if span.escaped {
            unescape(raw, &mut self.scratch);
            self.scratch.as_bytes()
        } else {
            raw
        }
    }

    /// `repr(int)`: the literal, but `-0` is 0.
    fn int(&self, value: i64, start: usize, end: usize) -> &'a [u8] {
        if value == 0 {
            b"0"
        } else {
            &self.buf[start..end]
        }
    }

    /// `str(ident)` for an id (`None`: absent or null).
    pub fn id(&mut self, value: Value) -> Option<&[u8]> {
        match value {
            Value::Str(span) => Some(self.string(span)),
            Value::Int { value, start, end } => Some(self.int(value, start, end)),
            _ => None,
        }
    }

    /// `segment_text`.
    pub fn segment(&mut self, value: Value) -> &[u8] {
        match value {
            Value::Str(span) => first_chars(self.string(span), MAX_SEGMENT_CHARS),
            Value::Int { value, start, end } => self.int(value, start, end),
            Value::Bool(b) => bool_text(b),
            _ => MISSING_SEGMENT.as_bytes(),
        }
    }

    /// `categorical_value`: the text (`None` when missing) and whether it is a type error.
    pub fn categorical(&mut self, value: Value) -> (Option<&[u8]>, bool) {
        match value {
            Value::Str(span) => (Some(self.string(span)), false),
            Value::Int { value, start, end } => (Some(self.int(value, start, end)), false),
            Value::Bool(b) => (Some(bool_text(b)), false),
            Value::Container => (None, true),
            _ => (None, false),
        }
    }
}

fn bool_text(b: bool) -> &'static [u8] {
    if b {
        b"true"
    } else {
        b"false"
    }
}

/// The first `n` characters (code points, as Python slices) of UTF-8 `text`.
fn first_chars(text: &[u8], n: usize) -> &[u8] {
    if text.len() <= n {
        return text;
    }
    let mut starts = text.iter().enumerate().filter(|(_, &b)| b & 0xC0 != 0x80);
    starts.nth(n).map_or(text, |(at, _)| &text[..at])
}

pub fn id_is_native(value: Value) -> bool {
    matches!(value, Value::Absent | Value::Null | Value::Str(_) | Value::Int { .. })
}

pub fn segment_is_native(value: Value) -> bool {
    !matches!(value, Value::Float(_) | Value::Container)
}

pub fn categorical_is_native(value: Value) -> bool {
    !matches!(value, Value::Float(_))
}

/// `numeric_value`: ints and floats as floats, NaN for the rest (a type error unless null).
pub fn numeric(value: Value) -> (f64, bool) {
    match value {
        Value::Int { value, .. } => (value as f64, false),
        Value::Float(value) => (value, false),
        Value::Absent | Value::Null => (f64::NAN, false),
        _ => (f64::NAN, true),
    }
}

/// `time_in_range`: whether an event time is valid (NaN is not). The others are `bad_time`
/// rejections, whose message Python writes.
pub fn time_in_range(seconds: f64) -> bool {
    (TIME_START..TIME_END).contains(&seconds)
}

/// `parse_time`, when it gives a time natively (`None`: Python decides, maybe a rejection).
pub fn time(value: Value, texts: &mut Texts<'_>) -> Option<f64> {
    match value {
        Value::Int { value, .. } if value.unsigned_abs() > MILLIS_ABOVE as u64 => {
            Some(value as f64 / 1000.0)
        }
        Value::Int { value, .. } => Some(value as f64),
        Value::Float(value) if value.abs() > MILLIS_ABOVE => Some(value / 1000.0),
        Value::Float(value) => Some(value),
        Value::Str(span) => rfc3339::epoch_seconds(texts.string(span)),
        _ => None,
    }
}
