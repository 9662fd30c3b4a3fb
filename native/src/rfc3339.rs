//! The one time text read natively: `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`.
//!
//! For those, `datetime.fromisoformat(text).timestamp()` is exact integer microseconds divided
//! by 10^6, which one float division reproduces while the microseconds are exact doubles
//! (years 1685-2255). Other texts (other forms Python accepts, or errors) are left to Python.

const MAX_EXACT_MICROS: i64 = 1 << 53;

fn number(text: &[u8], at: usize, width: usize) -> Option<i64> {
    let digits = text.get(at..at + width)?;
    digits.iter().try_fold(0i64, |n, &b| b.is_ascii_digit().then(|| n * 10 + (b - b'0') as i64))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Epoch seconds of `text`, or `None` when Python must decide.
pub fn epoch_seconds(text: &[u8]) -> Option<f64> {
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if text.len() < 20 || separators.iter().any(|&(at, b)| text[at] != b) {
        return None;
    }
    let (year, month, day) = (number(text, 0, 4)?, number(text, 5, 2)?, number(text, 8, 2)?);
    let (hour, minute, second) = (number(text, 11, 2)?, number(text, 14, 2)?, number(text, 17, 2)?);
    let date_ok = year >= 1 && (1..=12).contains(&month) && day >= 1;
    if !date_ok || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0;
    if text[at] == b'.' {
        let digits = text[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=6).contains(&digits) {
            return None;
        }
        micros = number(text, at + 1, digits)? * 10i64.pow(6 - digits as u32);
        at += 1 + digits;
    }
    let offset = match text.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (number(&[*h1, *h2], 0, 2)?, number(&[*m1, *m2], 0, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            (h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let total = (seconds - offset) * 1_000_000 + micros;
    (total.abs() <= MAX_EXACT_MICROS).then(|| total as f64 / 1e6)
}
