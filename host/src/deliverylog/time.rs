//! Event times: stored as Unix milliseconds (an integer sorts and compares
//! cheaply in SQLite), shown as RFC 3339 UTC. Written by hand because the
//! log needs three conversions, not a calendar library; the calendar itself
//! (days to a date) is plugin-api's `date`, shared with the plugins.

use std::time::{SystemTime, UNIX_EPOCH};

use phonehook_plugin_api::date;

const MS_PER_DAY: i64 = 86_400_000;

/// Now, in Unix milliseconds: the host's one reading of the wall clock,
/// for event times and for the `now_unix_ms` a plugin is handed.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `1700000000123` → `2023-11-14T22:13:20.123Z`. The calendar is
/// plugin-api's ([`date::UtcTime`]), the one the plugins sign dates with.
pub fn format_rfc3339(ms: i64) -> String {
    let t = date::UtcTime::from_unix_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms.rem_euclid(1000)
    )
}

/// Reads a point in time as a person or a script writes it: RFC 3339
/// (`2024-05-01T12:00:00Z`, offsets and fractions allowed), a bare date
/// (`2024-05-01`, midnight UTC), Unix milliseconds (`1714564800000`), or an
/// age relative to `now_ms` (`90s`, `15m`, `2h`, `7d`).
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(ago) = parse_age(text) {
        return Ok(now_ms.saturating_sub(ago));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| format!("`{text}` is too large"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!("`{text}` is not a time (use RFC 3339 like 2024-05-01T12:00:00Z, a date, Unix milliseconds, or an age like 15m, 2h, 7d)")
    })
}

/// `15m` → 900000.
fn parse_age(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let per_unit = match unit {
        's' => 1000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => MS_PER_DAY,
        _ => return None,
    };
    let count = &text[..text.len() - 1];
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    count.parse::<i64>().ok()?.checked_mul(per_unit)
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let days = parse_date(date)?;
    let in_day = match time {
        Some(time) => parse_time_of_day(time)?,
        None => 0,
    };
    days.checked_mul(MS_PER_DAY)?.checked_add(in_day)
}

fn parse_date(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = number(parts.next()?, 4)?;
    let m: i64 = number(parts.next()?, 2)?;
    let d: i64 = number(parts.next()?, 2)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `12:30:00.5+02:00` → milliseconds since midnight UTC (may be negative or
/// past a day once the offset is applied; the caller adds it to the date).
fn parse_time_of_day(time: &str) -> Option<i64> {
    let (clock, offset_ms) = split_offset(time)?;
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = hms.splitn(3, ':');
    let h: i64 = number(parts.next()?, 2)?;
    let min: i64 = number(parts.next()?, 2)?;
    let s: i64 = match parts.next() {
        Some(s) => number(s, 2)?,
        None => 0,
    };
    if h > 23 || min > 59 || s > 60 {
        return None;
    }
    let milli = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Only the first three digits matter at millisecond precision.
            let padded = format!("{:0<3}", &f[..f.len().min(3)]);
            padded.parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(((h * 60 + min) * 60 + s) * 1000 + milli - offset_ms)
}

/// Splits `12:00:00+02:00` into the clock and the offset in milliseconds.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(at) = time.rfind(['+', '-']) else {
        // No zone at all: read as UTC, the only zone the log shows.
        return Some((time, 0));
    };
    let (clock, zone) = time.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (h, m) = zone[1..].split_once(':')?;
    let minutes = number(h, 2)? * 60 + number(m, 2)?;
    Some((clock, sign * minutes * 60_000))
}

fn number(text: &str, width: usize) -> Option<i64> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Serde adapter: milliseconds in memory, RFC 3339 on the wire.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `ms` as RFC 3339.
    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*ms))
    }

    /// Reads RFC 3339 (or Unix milliseconds) back.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_time(&text, 0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        for ms in [0, 1_700_000_000_123, 951_782_400_000, -86_400_000] {
            assert_eq!(parse_time(&format_rfc3339(ms), 0), Ok(ms), "{ms}");
        }
        assert_eq!(
            format_rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reads_the_forms_people_write() {
        let now = 1_700_000_000_000;
        let cases = [
            ("2023-11-14T22:13:20Z", 1_700_000_000_000),
            ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
            ("2023-11-15T00:13:20+02:00", 1_700_000_000_000),
            ("2023-11-14T20:13:20-02:00", 1_700_000_000_000),
            ("2023-11-14 22:13:20", 1_700_000_000_000),
            ("2023-11-14", 1_699_920_000_000),
            ("1700000000000", 1_700_000_000_000),
            ("90s", now - 90_000),
            ("15m", now - 900_000),
            ("2h", now - 7_200_000),
            ("7d", now - 7 * MS_PER_DAY),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text, now), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in [
            "",
            "yesterday",
            "2023-13-01",
            "2023-11-14T25:00:00Z",
            "2023-1-14",
            "5w",
            "-5m",
        ] {
            assert!(parse_time(text, 0).is_err(), "{text}");
        }
    }
}
