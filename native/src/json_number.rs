//! JSON numbers as orjson reads them: integers of up to 18 digits are Python ints, literals
//! with a fraction or an exponent are correctly rounded floats. Longer integers (which orjson
//! may turn into floats) and floats that overflow (which orjson rejects) are deferred.

use crate::json_scan::{Defer, Scan, Scanner};

/// A number's value, when it is read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer literal; `-0` is the int 0.
    Int(i64),
    Float(f64),
    /// Checked, not read (`capture` was false).
    Skipped,
}

/// Integers of up to 18 digits fit an i64 whatever they are; orjson reads them as ints.
const INT_DIGITS: u32 = 18;
/// Powers of ten that are exact doubles (Clinger's fast path).
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
const EXACT_MANTISSA: u64 = 1 << 53;

/// The digits from `i` on, appended to `mantissa`; `significant` counts digits from the first
/// non-zero one (past 19 the mantissa wraps and is not used). Returns where they end.
#[inline(always)]
fn digits(buf: &[u8], mut i: usize, mantissa: &mut u64, significant: &mut u32) -> usize {
    while let Some(&b) = buf.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        *significant += (*mantissa != 0 || digit != 0) as u32;
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(digit as u64);
        i += 1;
    }
    i
}

impl Scanner<'_> {
    /// A number at its first byte. `capture`: read its value, else only check it.
    pub fn number(&mut self, capture: bool) -> Scan<Number> {
        // Local index, one write back: keeps the position in a register.
        let (buf, start) = (self.buf, self.pos);
        let at = |i: usize| buf.get(i).copied().unwrap_or(0);
        let negative = at(start) == b'-';
        let int_start = start + negative as usize;
        let (mut mantissa, mut significant) = (0u64, 0u32);
        let mut i = match at(int_start) {
            b'0' => int_start + 1,
            b'1'..=b'9' => digits(buf, int_start, &mut mantissa, &mut significant),
            _ => return Err(Defer),
        };
        let int_digits = (i - int_start) as u32;
        let mut fraction = 0;
        let mut is_float = false;
        if at(i) == b'.' {
            let end = digits(buf, i + 1, &mut mantissa, &mut significant);
            fraction = (end - i - 1) as u32;
            if fraction == 0 {
                return Err(Defer);
            }
            (i, is_float) = (end, true);
        }
        let mut exponent: i64 = 0;
        if let b'e' | b'E' = at(i) {
            i += 1;
            let negative_exponent = at(i) == b'-';
            i += matches!(at(i), b'-' | b'+') as usize;
            let from = i;
            while let b @ b'0'..=b'9' = at(i) {
                exponent = (exponent * 10 + (b - b'0') as i64).min(1 << 40);
                i += 1;
            }
            if i == from {
                return Err(Defer);
            }
            if negative_exponent {
                exponent = -exponent;
            }
            is_float = true;
        }
        self.pos = i;
        if !is_float {
            return if int_digits > INT_DIGITS {
                // orjson reads it as a float, and rejects it when that overflows.
                if capture || int_digits > 300 {
                    Err(Defer)
                } else {
                    Ok(Number::Skipped)
                }
            } else if capture {
                let value = mantissa as i64;
                Ok(Number::Int(if negative { -value } else { value }))
            } else {
                Ok(Number::Skipped)
            };
        }
        // Could it overflow? Only with a large decimal exponent: then parse it to know.
        let large = significant > 0 && int_digits as i64 + exponent > 300;
        if !capture && !large {
            return Ok(Number::Skipped);
        }
        let power = exponent - fraction as i64;
        if significant <= 19 && mantissa <= EXACT_MANTISSA && power.abs() <= 22 {
            // Both operands exact: one correctly rounded operation, and always finite (no
            // check: a branch on the quotient would wait for the division).
            let m = if negative { -(mantissa as f64) } else { mantissa as f64 };
            let value = if power >= 0 {
                m * EXACT_POWERS[power as usize]
            } else {
                m / EXACT_POWERS[-power as usize]
            };
            return Ok(if capture { Number::Float(value) } else { Number::Skipped });
        }
        let text = std::str::from_utf8(&self.buf[start..self.pos]).map_err(|_| Defer)?;
        let value = text.parse::<f64>().map_err(|_| Defer)?;
        if value.is_infinite() {
            return Err(Defer); // orjson: "number is infinity when parsed as double"
        }
        Ok(if capture { Number::Float(value) } else { Number::Skipped })
    }
}
