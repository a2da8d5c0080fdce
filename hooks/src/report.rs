//! The one-line report of a write the policy refuses (or would refuse):
//! what was written, by whom, through which callers. Formatted on the
//! stack, written with one system call: usable in the handler.

use crate::writers::{self, View};
use jg::writer::WriteSite;

const REPORT_BYTES: usize = 1280;

#[inline(never)]
#[cold]
pub fn write_report(
    what: &str,
    gregs: &[i64; crate::sys::NGREG],
    site: &WriteSite,
    key: Option<u32>,
    view: Option<&View>,
    call_ret: Option<u64>,
) {
    use core::fmt::Write;
    let mut b = jg::report::StackBuf::<REPORT_BYTES>::new();
    let page = jg::page_floor(site.addr);
    let _ = write!(b, "jitguard: {what} at {:#x} (page {page:#x}", site.addr);
    if let Some(k) = key {
        let _ = write!(b, ", key {k}");
    }
    let _ = write!(b, ") by thread {}", site.tid);
    match view {
        Some(v) => {
            let w = writers::walk(v, writers::regs_from(gregs), false, call_ret);
            let _ = write!(b, ": writer {}", v.table.place(w.frames[0]));
            if w.n > 1 {
                let _ = write!(b, "; callers:");
                for (i, &ip) in w.frames[1..w.n].iter().enumerate() {
                    let _ = write!(
                        b,
                        "{} {}",
                        if i == 0 { "" } else { " <-" },
                        v.table.place(ip)
                    );
                }
            }
            if site.decider.is_none() {
                let _ = write!(b, "; no caller outside the shared libraries could be found");
            }
            let _ = write!(b, "; writer profile: {}", v.judging(site.addr).source);
        }
        None => {
            let _ = write!(b, ": writer ip {:#x}", site.ip);
        }
    }
    let _ = b.write_str("\n");
    crate::log::report(b.as_bytes());
}

/// The report of a store into jitguard's own state (or a read of its
/// secret): where, by whom.
#[inline(never)]
#[cold]
pub fn own_state(addr: u64, f: &crate::fault::FrameRef, write: bool) {
    use core::fmt::Write;
    let mut b = jg::report::StackBuf::<REPORT_BYTES>::new();
    let ip = f.rip();
    let _ = write!(
        b,
        "jitguard: denied {} jitguard's own state at {addr:#x} by thread {} at ip {ip:#x}",
        if write { "write to" } else { "read of" },
        crate::sys::tid()
    );
    if let Some(v) = writers::view() {
        let _ = write!(b, " ({})", v.table.place(ip));
    }
    let _ = b.write_str("\n");
    crate::log::report(b.as_bytes());
}
