//! The one-line tamper report, formatted on the stack (usable in a
//! handler), and the name of a page's last trusted writer.

use super::table::Record;
use super::CHUNK;
use crate::counters::{self, COUNTERS};
use crate::state::{globals, protection};
use jg::config::Mode;

/// Where a check ran, for the report.
#[derive(Clone, Copy)]
pub(super) enum Found {
    Open,
    Exit,
    Sweep,
}

pub(super) fn report_tamper(r: &Record, chunk: Option<u64>, found: Found) {
    counters::bump(&COUNTERS.tampered);
    use core::fmt::Write;
    let mut b = jg::report::StackBuf::<512>::new();
    let enforce = globals().config.mode == Mode::Enforce;
    let _ = write!(b, "jitguard: tampered code: page {:#x}", r.page());
    if protection().keys().is_some() {
        let _ = write!(b, " (key {})", r.key());
    }
    let _ = write!(b, " changed while sealed");
    match chunk {
        Some(o) => {
            let _ = write!(
                b,
                ", first difference at +{o:#x} (64-byte chunk {o:#x}-{:#x})",
                o + CHUNK as u64 - 1
            );
        }
        None => {
            let _ = write!(b, ", first difference not located");
        }
    }
    let _ = write!(
        b,
        "; found {}; last trusted writer {}",
        match found {
            Found::Open => "before opening it",
            Found::Exit => "at exit",
            Found::Sweep => "by the sweep",
        },
        Writer(r.writer())
    );
    let _ = writeln!(
        b,
        "{}",
        if enforce {
            "; killed"
        } else {
            " (audit: allowed)"
        }
    );
    crate::log::report(b.as_bytes());
}

/// A writer's address, named by module and symbol where the view knows it.
pub struct Writer(pub u64);

impl core::fmt::Display for Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match crate::writers::view() {
            Some(v) if self.0 != 0 => write!(f, "{}", v.table.place(self.0)),
            _ => write!(f, "{:#x}", self.0),
        }
    }
}
