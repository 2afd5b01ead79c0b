//! Durations as people write them in YAML: `250ms`, `2s`, `1.5s`, `1m`, or `0`; delay ranges
//! (`100ms..500ms`) and transfer rates (`1KiB/s`); and times as mockrig shows them ([`rfc3339`]).

use std::time::Duration;

use rand::RngExt;

use crate::error::Invalid;
use crate::random::{SeededRng, with_rng};

/// A time as the admin API, the journal and the logs show it: RFC 3339 in UTC, milliseconds.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a duration; the error says what was expected.
pub(crate) fn parse(text: &str) -> Result<Duration, Invalid> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        Invalid(format!(
            "'{text}' is not a duration (write e.g. 250ms, 2s, 1.5s or 1m)"
        ))
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let millis = match unit.trim() {
        "ms" => value,
        "s" => value * 1_000.0,
        "m" => value * 60_000.0,
        // A bare 0 needs no unit; any other bare number is ambiguous.
        "" if value == 0.0 => 0.0,
        _ => return Err(bad()),
    };
    // A day is far beyond any mock latency; the cap keeps the conversion below exact.
    if !(0.0..=86_400_000.0).contains(&millis) {
        return Err(Invalid(format!("'{text}' is longer than a day")));
    }
    Ok(Duration::from_micros((millis * 1_000.0).round() as u64))
}

/// A delay: fixed when `min == max`, else a random time in `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delay {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

impl Delay {
    /// Whether the wait is drawn from a range rather than fixed.
    pub(crate) fn is_range(&self) -> bool {
        self.min != self.max
    }

    /// The wait; a range draws from the answer's generator, so `--seed` fixes it too. `None`
    /// for no wait at all.
    pub(crate) fn draw(&self, rng: Option<&SeededRng>) -> Option<Duration> {
        let wait = if self.is_range() {
            with_rng(rng, |r| r.random_range(self.min..=self.max))
        } else {
            self.min
        };
        (!wait.is_zero()).then_some(wait)
    }
}

/// `250ms`, or a range `100ms..500ms` (a bare number takes the other end's unit:
/// `100..500ms`).
pub(crate) fn parse_delay(text: &str) -> Result<Delay, Invalid> {
    let Some((a, b)) = text.split_once("..") else {
        let d = parse(text)?;
        return Ok(Delay { min: d, max: d });
    };
    let (a, b) = (a.trim(), b.trim());
    let unit_of = |t: &str| {
        t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .to_owned()
    };
    let with_unit = |t: &str, other: &str| {
        if unit_of(t).is_empty() && t != "0" {
            format!("{t}{}", unit_of(other))
        } else {
            t.to_owned()
        }
    };
    let min = parse(&with_unit(a, b)).map_err(|_| range_error(text))?;
    let max = parse(&with_unit(b, a)).map_err(|_| range_error(text))?;
    if min > max {
        return Err(Invalid(format!("'{text}': the range starts after it ends")));
    }
    Ok(Delay { min, max })
}

fn range_error(text: &str) -> Invalid {
    Invalid(format!(
        "'{text}' is not a delay (write e.g. 200ms, or a range 100ms..500ms)"
    ))
}

/// A transfer rate in bytes per second: `500B/s`, `1KiB/s`, `2MB/s` (KB = 1000, KiB = 1024).
pub(crate) fn parse_rate(text: &str) -> Result<u64, Invalid> {
    let bad = || {
        Invalid(format!(
            "'{text}' is not a rate (write e.g. 500B/s, 1KiB/s or 2MB/s)"
        ))
    };
    let t = text.trim();
    let per_second = t.strip_suffix("/s").ok_or_else(bad)?.trim();
    let split = per_second
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(per_second.len());
    let (number, unit) = per_second.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let rate = (value * factor).round();
    if !(1.0..=1e12).contains(&rate) {
        return Err(Invalid(format!(
            "'{text}' must be at least 1 byte per second"
        )));
    }
    Ok(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_and_rates() {
        let ms = Duration::from_millis;
        assert_eq!(
            parse_delay("200ms"),
            Ok(Delay {
                min: ms(200),
                max: ms(200)
            })
        );
        assert_eq!(
            parse_delay("100ms..500ms"),
            Ok(Delay {
                min: ms(100),
                max: ms(500)
            })
        );
        assert_eq!(
            parse_delay("100..500ms"),
            Ok(Delay {
                min: ms(100),
                max: ms(500)
            })
        );
        assert_eq!(
            parse_delay("1s .. 2s"),
            Ok(Delay {
                min: ms(1000),
                max: ms(2000)
            })
        );
        assert_eq!(
            parse_delay("0..1s"),
            Ok(Delay {
                min: ms(0),
                max: ms(1000)
            })
        );
        for bad in ["500ms..100ms", "1..2", "a..b", "..1s", "1s.."] {
            assert!(parse_delay(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_rate("1KiB/s"), Ok(1024));
        assert_eq!(parse_rate("500B/s"), Ok(500));
        assert_eq!(parse_rate("2MB/s"), Ok(2_000_000));
        assert_eq!(parse_rate("1.5 KB/s"), Ok(1500));
        for bad in ["1KiB", "fast", "0B/s", "1TB/s", "/s"] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 10 ms "), Ok(Duration::from_millis(10)));
    }

    #[test]
    fn rejects_the_rest() {
        for bad in ["", "fast", "10", "10h", "-1s", "1..2s", "ms", "2d"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
