//! One record's walk: check all of it, keep the values at the configured paths.
//!
//! Values are kept as they appear in the record (spans, not copies); numbers are read only
//! where a path ends. As in a Python dict, the last of duplicate keys wins: a key that matches
//! a path step first clears every slot below it, so a later copy of a parent object without a
//! field the earlier copy had leaves that field absent.

use crate::event_paths::{PathTree, ROOT};
use crate::json_number::Number;
use crate::json_scan::{unescape, Defer, Scan, Scanner, Span, MAX_DEPTH};

/// The JSON value at a path, as far as the Python rules need to know it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Absent,
    Null,
    Bool(bool),
    /// An integer literal at `start..end` of the record.
    Int {
        value: i64,
        start: usize,
        end: usize,
    },
    Float(f64),
    Str(Span),
    /// An object or a list.
    Container,
}

#[derive(Default)]
pub struct Walk {
    /// One per slot of the tree.
    pub values: Vec<Value>,
    key: String,
}

impl Walk {
    /// Check `s`'s whole record (an object, maybe in whitespace) and fill `values`.
    pub fn record(&mut self, tree: &PathTree, s: &mut Scanner<'_>) -> Scan<()> {
        self.values.resize(tree.slot_count, Value::Absent);
        self.values.fill(Value::Absent);
        s.skip_ws();
        if s.peek() != Some(b'{') {
            return Err(Defer);
        }
        self.object(tree, ROOT, s, 1)?;
        s.skip_ws();
        if s.pos == s.buf.len() {
            Ok(())
        } else {
            Err(Defer)
        }
    }

    /// The value at `node` (at `s`), kept in its slot if a path ends there.
    fn value(&mut self, tree: &PathTree, node: usize, s: &mut Scanner<'_>, depth: u32) -> Scan<()> {
        let here = &tree.nodes[node];
        let value = match s.peek().ok_or(Defer)? {
            b'{' if here.is_branch() => {
                self.object(tree, node, s, depth + 1)?;
                Value::Container
            }
            b'[' if here.has_indexes() => {
                self.array(tree, node, s, depth + 1)?;
                Value::Container
            }
            b'{' | b'[' => {
                s.skip_value(depth)?;
                Value::Container
            }
            b'"' => Value::Str(s.string()?),
            b't' => s.literal(b"true").map(|_| Value::Bool(true))?,
            b'f' => s.literal(b"false").map(|_| Value::Bool(false))?,
            b'n' => s.literal(b"null").map(|_| Value::Null)?,
            b'-' | b'0'..=b'9' => {
                let start = s.pos;
                match s.number(here.slot.is_some())? {
                    Number::Int(value) => Value::Int { value, start, end: s.pos },
                    Number::Float(value) => Value::Float(value),
                    Number::Skipped => return Ok(()),
                }
            }
            _ => return Err(Defer),
        };
        if let Some(slot) = here.slot {
            self.values[slot] = value;
        }
        Ok(())
    }

    fn object(
        &mut self,
        tree: &PathTree,
        node: usize,
        s: &mut Scanner<'_>,
        depth: u32,
    ) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Defer);
        }
        s.expect(b'{')?;
        if s.peek() == Some(b'}') {
            s.pos += 1;
            return Ok(());
        }
        let mut guess = 0;
        loop {
            let here = &tree.nodes[node];
            let child = if let Some((child, n)) = here.expected(&s.buf[s.pos..], guess) {
                s.pos += n;
                s.skip_ws();
                s.expect(b':')?;
                guess += 1;
                Some(child)
            } else {
                let key = s.key()?;
                if key.escaped {
                    unescape(key.of(s.buf), &mut self.key);
                    here.child(self.key.as_bytes(), &mut guess)
                } else {
                    here.child(key.of(s.buf), &mut guess)
                }
            };
            match child {
                Some(child) => {
                    self.values[tree.nodes[child].slots.clone()].fill(Value::Absent);
                    self.value(tree, child, s, depth)?
                }
                None => s.skip_value(depth)?,
            }
            s.skip_ws();
            match s.peek() {
                Some(b',') => s.expect(b',')?,
                Some(b'}') => {
                    s.pos += 1;
                    return Ok(());
                }
                _ => return Err(Defer),
            }
        }
    }

    fn array(&mut self, tree: &PathTree, node: usize, s: &mut Scanner<'_>, depth: u32) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Defer);
        }
        s.expect(b'[')?;
        if s.peek() == Some(b']') {
            s.pos += 1;
            return Ok(());
        }
        let (mut index, mut cursor) = (0, 0);
        loop {
            match tree.nodes[node].child_at(index, &mut cursor) {
                Some(child) => self.value(tree, child, s, depth)?,
                None => s.skip_value(depth)?,
            }
            index += 1;
            s.skip_ws();
            match s.peek() {
                Some(b',') => s.expect(b',')?,
                Some(b']') => {
                    s.pos += 1;
                    return Ok(());
                }
                _ => return Err(Defer),
            }
        }
    }
}
