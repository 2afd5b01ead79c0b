//! Durations as people write them in YAML: `250ms`, `2s`, `1.5s`, `1m`, or `0`.

use std::time::Duration;

/// Parses a duration; the error says what was expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("'{text}' is not a duration (write e.g. 250ms, 2s, 1.5s or 1m)");
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
        return Err(format!("'{text}' is longer than a day"));
    }
    Ok(Duration::from_micros((millis * 1_000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

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
