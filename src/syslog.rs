//! One syslog message in the RFC 3164 format that `/dev/log` readers
//! (rsyslog, syslog-ng, journald) accept:
//! `<PRI>Mmm dd hh:mm:ss jitguard[PID]: MESSAGE`.
//!
//! Formatted into a stack buffer with no allocation, so the signal handler
//! can send a denial report to the system log.

use core::fmt::Write;

/// Facility authpriv (10): security messages an administrator reads.
pub const FACILITY_AUTHPRIV: u8 = 10;
pub const SEVERITY_ERR: u8 = 3;
pub const SEVERITY_WARNING: u8 = 4;

/// The tag every message carries.
pub const TAG: &str = "jitguard";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01
/// (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

/// The severity of one report line: denials are errors, the rest
/// (audited writes, notices) warnings.
pub fn severity_of(line: &[u8]) -> u8 {
    if line.windows(6).any(|w| w == b"denied") || line.windows(6).any(|w| w == b"tamper") {
        SEVERITY_ERR
    } else {
        SEVERITY_WARNING
    }
}

/// Writes one message into `out`: `local_secs` is the time to show (Unix
/// seconds plus the local UTC offset). A leading `jitguard: ` and trailing
/// newlines of `line` are dropped (the tag says it).
pub fn format<W: Write>(out: &mut W, severity: u8, local_secs: i64, pid: u32, line: &[u8]) {
    let mut msg = line;
    if let Some(rest) = msg.strip_prefix(b"jitguard: ") {
        msg = rest;
    }
    while let Some((&last, rest)) = msg.split_last() {
        if last == b'\n' || last == b'\r' {
            msg = rest;
        } else {
            break;
        }
    }
    let pri = u32::from(FACILITY_AUTHPRIV) * 8 + u32::from(severity & 7);
    let days = local_secs.div_euclid(86_400);
    let secs = local_secs.rem_euclid(86_400);
    let (_, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "<{pri}>{} {d:>2} {:02}:{:02}:{:02} {TAG}[{pid}]: ",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    // The message as text; bytes that are not UTF-8 (none are expected)
    // become '?', one each.
    for chunk in msg.utf8_chunks() {
        let _ = out.write_str(chunk.valid());
        for _ in chunk.invalid() {
            let _ = out.write_char('?');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StackBuf;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
    }

    #[test]
    fn rfc3164_line() {
        let mut b = StackBuf::<256>::new();
        // 2026-12-01 09:05:07 UTC
        let t = 20_788 * 86_400 + 9 * 3600 + 5 * 60 + 7;
        format(
            &mut b,
            severity_of(b"jitguard: denied write at 0x1"),
            t,
            4601,
            b"jitguard: denied write at 0x1\n",
        );
        assert_eq!(
            std::str::from_utf8(b.as_bytes()).unwrap(),
            "<83>Dec  1 09:05:07 jitguard[4601]: denied write at 0x1"
        );
        b.clear();
        format(
            &mut b,
            severity_of(b"audited write"),
            0,
            1,
            b"audited write",
        );
        assert_eq!(
            std::str::from_utf8(b.as_bytes()).unwrap(),
            "<84>Jan  1 00:00:00 jitguard[1]: audited write"
        );
    }
}
