//! Calendar time without a time-zone database: civil dates (proleptic Gregorian, H. Hinnant's
//! algorithms) and UTC instants with nanoseconds in the ISO 8601 form SimpleX's JSON carries
//! (`1970-01-01T00:00:01.000000001Z`: the fraction without trailing zeros, none when zero).

use std::fmt;

/// Days since 1970-01-01 as (year, month, day).
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) as days since 1970-01-01; the inverse of [`civil_date`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An instant in UTC: seconds since the epoch and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    pub secs: i64,
    /// Nanoseconds, below 1,000,000,000.
    pub nanos: u32,
}

/// Why a time text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO 8601 UTC time: {0:?}")]
pub struct TimeError(pub String);

impl UtcTime {
    /// The instant `ms` milliseconds from the epoch (negative before).
    pub fn from_millis(ms: i64) -> Self {
        Self {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) as u32) * 1_000_000,
        }
    }

    /// The current time.
    pub fn now() -> Self {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let (secs, nanos) = (-(d.as_secs() as i64), d.subsec_nanos());
                if nanos == 0 {
                    Self { secs, nanos }
                } else {
                    Self {
                        secs: secs - 1,
                        nanos: 1_000_000_000 - nanos,
                    }
                }
            }
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a space for `T` is accepted; the
    /// fraction may have any number of digits, those beyond nanoseconds are dropped).
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let bad = || TimeError(s.chars().take(64).collect());
        let b = s.as_bytes();
        let num = |from: usize, len: usize| -> Result<i64, TimeError> {
            let part = b.get(from..from + len).ok_or_else(bad)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        if b.len() < 20 || !at(4, b'-') || !at(7, b'-') || !(at(10, b'T') || at(10, b' ')) {
            return Err(bad());
        }
        if !at(13, b':') || !at(16, b':') {
            return Err(bad());
        }
        let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return Err(bad());
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if at(i, b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(bad());
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset = match b.get(i) {
            Some(b'Z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b':') => {
                let o = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
                if sign == b'+' {
                    o
                } else {
                    -o
                }
            }
            _ => return Err(bad()),
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        Ok(Self {
            secs: days * 86_400 + h * 3600 + mi * 60 + sec - offset,
            nanos,
        })
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d) = civil_date(self.secs.div_euclid(86_400));
        let t = self.secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            t / 3600,
            t / 60 % 60,
            t % 60
        )?;
        if self.nanos > 0 {
            let mut frac = format!("{:09}", self.nanos);
            while frac.ends_with('0') {
                frac.pop();
            }
            write!(f, ".{frac}")?;
        }
        f.write_str("Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_both_ways() {
        for days in [-800_000, -1, 0, 1, 59, 60, 365, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_date(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
    }

    #[test]
    fn times_parse_and_print_as_the_reference_writes_them() {
        let t = UtcTime::parse("1970-01-01T00:00:01.000000001Z").expect("parses");
        assert_eq!(t, UtcTime { secs: 1, nanos: 1 });
        assert_eq!(t.to_string(), "1970-01-01T00:00:01.000000001Z");
        let t = UtcTime::parse("2024-02-29T23:59:58.5Z").expect("parses");
        assert_eq!(t.to_string(), "2024-02-29T23:59:58.5Z");
        assert_eq!(
            UtcTime::parse("2024-03-01T01:00:00+01:00").expect("offset"),
            UtcTime::parse("2024-03-01T00:00:00Z").expect("utc")
        );
        assert_eq!(
            UtcTime { secs: 0, nanos: 0 }.to_string(),
            "1970-01-01T00:00:00Z"
        );
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-13-01T00:00:00Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zjunk",
            "197a-01-01T00:00:00Z",
        ] {
            assert!(UtcTime::parse(bad).is_err(), "{bad}");
        }
    }
}
