//! Calendar dates from the host's clock ([`crate::Call::now_unix_ms`]) in the
//! formats vendors sign, without a date library: a plugin may not read the
//! clock, and these few formats do not justify a dependency.

/// A moment in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year, e.g. 2024 (proleptic Gregorian; negative before year 1).
    pub year: i64,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 59 (Unix time has no leap seconds).
    pub second: u32,
    /// The day of the week, 0 (Monday) to 6 (Sunday).
    pub weekday: u32,
}

impl UtcTime {
    /// The moment `unix_ms` milliseconds after 1970-01-01T00:00:00Z (before it
    /// when negative), milliseconds dropped.
    pub fn from_unix_ms(unix_ms: i64) -> UtcTime {
        let secs = unix_ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        // Both remainders are non-negative and small, so the casts are exact.
        let of_day = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 3).rem_euclid(7) as u32,
        }
    }

    /// RFC 7231's IMF-fixdate (RFC 2616's `rfc1123-date`), the `Date` header:
    /// `Wed, 14 Dec 2016 18:20:12 GMT`.
    pub fn http_date(&self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekday = DAYS.get(self.weekday as usize).copied().unwrap_or("Mon");
        let month = MONTHS
            .get(self.month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("Jan");
        format!(
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
            self.day, self.year, self.hour, self.minute, self.second
        )
    }

    /// ISO 8601 basic format in UTC, as AWS's `X-Amz-Date`: `20150830T123600Z`.
    pub fn iso_basic(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 3339 in UTC, to the second: `2015-08-30T12:36:00Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `Wed, 14 Dec 2016 18:20:12 GMT` for a time in Unix milliseconds.
pub fn http_date(unix_ms: i64) -> String {
    UtcTime::from_unix_ms(unix_ms).http_date()
}

/// `20150830T123600Z` for a time in Unix milliseconds.
pub fn iso_basic(unix_ms: i64) -> String {
    UtcTime::from_unix_ms(unix_ms).iso_basic()
}

/// Year, month (1-12) and day (1-31) of a count of days since 1970-01-01, in
/// the proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Day and month are within 1..=31 and 1..=12 by construction.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let cases = [
            (1_481_739_612_000, "Wed, 14 Dec 2016 18:20:12 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (1_704_067_200_999, "Mon, 01 Jan 2024 00:00:00 GMT"),
            (951_782_400_000, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (4_107_542_399_000, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        ];
        for (ms, want) in cases {
            assert_eq!(http_date(ms), want, "{ms}");
        }
    }

    #[test]
    fn iso_basic_and_rfc3339() {
        let cases = [
            (1_440_938_160_000, "20150830T123600Z"),
            (0, "19700101T000000Z"),
            (1_709_164_799_999, "20240228T235959Z"),
            (1_709_164_800_000, "20240229T000000Z"),
            (-1, "19691231T235959Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(iso_basic(ms), want, "{ms}");
        }
        assert_eq!(
            UtcTime::from_unix_ms(1_440_938_160_000).rfc3339(),
            "2015-08-30T12:36:00Z"
        );
    }
}
