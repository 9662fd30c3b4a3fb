//! A validating JSON scanner over one record's bytes: no DOM, no allocation.
//!
//! It accepts a subset of what orjson accepts and reads it the same way; anything it is not
//! sure about (invalid JSON, lone surrogates, deep nesting, numbers orjson reads as floats or
//! rejects) is a [`Defer`]: the record then goes to the Python decoder, whose answer is the
//! specification.

/// "Let the Python rules decide this record."
#[derive(Debug, PartialEq, Eq)]
pub struct Defer;

pub type Scan<T> = Result<T, Defer>;

/// Nesting deeper than this is deferred (orjson's own limit is 1024).
pub const MAX_DEPTH: u32 = 128;

/// A string's content (between the quotes) in the record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    start: usize,
    end: usize,
    /// It holds backslash escapes: read it with [`unescape`].
    pub escaped: bool,
}

impl Span {
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start..self.end]
    }
}

pub struct Scanner<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of the lowest byte of `w` that is a quote, a backslash or a control character
/// (bytes above it may be flagged falsely, by borrows), plus every non-ASCII byte if `ascii`.
#[inline(always)]
fn specials(w: u64, ascii: bool) -> u64 {
    let quote = w ^ (ONES * b'"' as u64);
    let backslash = w ^ (ONES * b'\\' as u64);
    let zeros = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let flags = zeros(quote) | zeros(backslash) | control;
    (if ascii { flags | w } else { flags }) & HIGH
}

fn hex4(bytes: &[u8]) -> Scan<u32> {
    let mut code = 0;
    for &b in bytes.get(..4).ok_or(Defer)? {
        let digit = (b as char).to_digit(16).ok_or(Defer)?;
        code = code * 16 + digit;
    }
    Ok(code)
}

impl<'a> Scanner<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Scanner { buf, pos: 0 }
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline(always)]
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// `byte`, then whitespace.
    #[inline(always)]
    pub fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.peek() != Some(byte) {
            return Err(Defer);
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    pub fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if !self.buf[self.pos..].starts_with(word) {
            return Err(Defer);
        }
        self.pos += word.len();
        Ok(())
    }

    /// A string at the opening quote; ends after the closing one. Checks UTF-8 and escapes.
    pub fn string(&mut self) -> Scan<Span> {
        let start = self.pos + 1;
        let (buf, mut pos) = (self.buf, start);
        let (mut escaped, mut ascii) = (false, true);
        loop {
            // Eight bytes at a time up to the next special byte.
            while let Some(chunk) = buf.get(pos..pos + 8) {
                let flags = specials(u64::from_le_bytes(chunk.try_into().unwrap()), ascii);
                if flags != 0 {
                    pos += flags.trailing_zeros() as usize / 8;
                    break;
                }
                pos += 8;
            }
            match *buf.get(pos).ok_or(Defer)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    pos = self.escape(pos)?;
                }
                b if b < 0x20 => return Err(Defer),
                b if b >= 0x80 => {
                    ascii = false;
                    pos += 1;
                }
                _ => pos += 1,
            }
        }
        if !ascii && std::str::from_utf8(&buf[start..pos]).is_err() {
            return Err(Defer);
        }
        self.pos = pos + 1;
        Ok(Span { start, end: pos, escaped })
    }

    /// The escape at `at` (a backslash); returns the position after it. A `\u` escape of a
    /// surrogate must be a high one followed by a low one (orjson rejects the others).
    fn escape(&self, at: usize) -> Scan<usize> {
        match *self.buf.get(at + 1).ok_or(Defer)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(at + 2),
            b'u' => {
                let code = hex4(&self.buf[at + 2..])?;
                if (0xDC00..0xE000).contains(&code) {
                    return Err(Defer);
                }
                if !(0xD800..0xDC00).contains(&code) {
                    return Ok(at + 6);
                }
                if self.buf.get(at + 6..at + 8) != Some(b"\\u") {
                    return Err(Defer);
                }
                let low = hex4(&self.buf[at + 8..])?;
                if (0xDC00..0xE000).contains(&low) {
                    Ok(at + 12)
                } else {
                    Err(Defer)
                }
            }
            _ => Err(Defer),
        }
    }

    /// Any value, checked and dropped; `depth`: containers around it.
    pub fn skip_value(&mut self, depth: u32) -> Scan<()> {
        match self.peek().ok_or(Defer)? {
            b'"' => self.string().map(drop),
            b'{' => self.skip_container(depth + 1, b'}', true),
            b'[' => self.skip_container(depth + 1, b']', false),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(false).map(drop),
            _ => Err(Defer),
        }
    }

    fn skip_container(&mut self, depth: u32, close: u8, keyed: bool) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Defer);
        }
        self.expect(if keyed { b'{' } else { b'[' })?;
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if keyed {
                self.key()?;
            }
            self.skip_value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.expect(b',')?,
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Defer),
            }
        }
    }

    /// An object key and its colon, up to the value.
    #[inline]
    pub fn key(&mut self) -> Scan<Span> {
        if self.peek() != Some(b'"') {
            return Err(Defer);
        }
        let span = self.string()?;
        self.skip_ws();
        self.expect(b':')?;
        Ok(span)
    }
}

/// The text of a string the scanner checked, escapes decoded, into `out` (cleared first).
pub fn unescape(raw: &[u8], out: &mut String) {
    out.clear();
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        out.push_str(std::str::from_utf8(&rest[..at]).expect("checked UTF-8"));
        let (text, used) = match rest[at + 1] {
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let high = hex4(&rest[at + 2..]).expect("checked escape");
                if (0xD800..0xDC00).contains(&high) {
                    let low = hex4(&rest[at + 8..]).expect("checked escape");
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(code).expect("a surrogate pair"), 12)
                } else {
                    (char::from_u32(high).expect("not a surrogate"), 6)
                }
            }
            other => (other as char, 2), // the quote, backslash or slash itself
        };
        out.push(text);
        rest = &rest[at + used..];
    }
    out.push_str(std::str::from_utf8(rest).expect("checked UTF-8"));
}
