//! Instants as the change log and the API write them: RFC 3339 in UTC to
//! the second (`2025-04-15T01:00:00Z`), which sorts as text in time order.
//! Parsing takes any RFC 3339 offset (`+08:00`, Beijing time) or a bare
//! date (midnight UTC); calendar steps (month, quarter, year) for progress
//! reports.
//!
//! Must not: read the clock anywhere but `now`.

/// Seconds since 1970-01-01T00:00:00Z.
pub type Unix = i64;

/// Now, to the second.
pub fn now() -> Unix {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count (inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(t: Unix) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// An RFC 3339 date-time (`2025-04-15T09:00:00+08:00`, fractions of a
/// second dropped) or a bare date (`2025-04-15`, midnight UTC).
pub fn parse(text: &str) -> Result<Unix, String> {
    let bad = || {
        format!(
            "{text:?} is not an RFC 3339 date-time (e.g. 2025-04-15T09:00:00+08:00 or 2025-04-15T01:00:00Z) or a date (2025-04-15)"
        )
    };
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let s = text.get(r).ok_or_else(bad)?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(0..4)? as i64, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let day = days_from_civil(y, m, d) * 86_400;
    if b.len() == 10 {
        return Ok(day);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // 60 is a leap second: count it as the next second's start.
    if hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let (oh, om) = (num(20..22)?, num(23..25)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            sign * (oh as i64 * 3600 + om as i64 * 60)
        }
        _ => return Err(bad()),
    };
    Ok(day + hh as i64 * 3600 + mm as i64 * 60 + ss as i64 - offset)
}

/// A calendar step of a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Month,
    Quarter,
    Year,
}

impl Step {
    pub fn parse(s: &str) -> Option<Step> {
        match s {
            "month" => Some(Step::Month),
            "quarter" => Some(Step::Quarter),
            "year" => Some(Step::Year),
            _ => None,
        }
    }

    fn months(self) -> u32 {
        match self {
            Step::Month => 1,
            Step::Quarter => 3,
            Step::Year => 12,
        }
    }

    /// The first calendar boundary (UTC) strictly after `t`: the start of
    /// the next month, quarter (January, April, July, October) or year.
    pub fn next_boundary(self, t: Unix) -> Unix {
        let (y, m, _) = civil_from_days(t.div_euclid(86_400));
        let n = self.months();
        // Months since year 0, rounded down to the step, then one step on.
        let index = y * 12 + (m as i64 - 1);
        let next = index - index.rem_euclid(n as i64) + n as i64;
        days_from_civil(next.div_euclid(12), (next.rem_euclid(12) + 1) as u32, 1) * 86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_humantime_does() {
        // humantime is an independent implementation of the same format.
        for t in [
            0i64,
            1,
            86_399,
            951_782_400,
            1_704_675_600,
            4_102_444_800,
            1_709_164_800,
        ] {
            let theirs = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
            )
            .to_string();
            assert_eq!(format(t), theirs);
            assert_eq!(parse(&theirs), Ok(t));
        }
    }

    #[test]
    fn offsets_dates_and_fractions() {
        assert_eq!(
            parse("2024-01-08T09:00:00+08:00"),
            parse("2024-01-08T01:00:00Z")
        );
        assert_eq!(
            parse("2024-01-08T01:00:00.250Z"),
            parse("2024-01-08T01:00:00Z")
        );
        assert_eq!(parse("2024-02-29"), parse("2024-02-29T00:00:00Z"));
        assert_eq!(
            format(parse("2023-12-31T20:00:00-05:00").unwrap()),
            "2024-01-01T01:00:00Z"
        );
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2023-02-29",
            "2024-01-08T25:00:00Z",
            "2024-01-08T01:00:00",
            "2024-01-08T01:00:00+8",
            "yesterday",
            "2024-01-08T01:00:00.Z",
            "２０２４-01-01",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn steps_land_on_calendar_boundaries() {
        let t = parse("2024-05-17T13:00:00Z").unwrap();
        assert_eq!(format(Step::Month.next_boundary(t)), "2024-06-01T00:00:00Z");
        assert_eq!(
            format(Step::Quarter.next_boundary(t)),
            "2024-07-01T00:00:00Z"
        );
        assert_eq!(format(Step::Year.next_boundary(t)), "2025-01-01T00:00:00Z");
        let dec = parse("2024-12-01T00:00:00Z").unwrap();
        assert_eq!(
            format(Step::Month.next_boundary(dec)),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            format(Step::Quarter.next_boundary(dec)),
            "2025-01-01T00:00:00Z"
        );
    }
}
