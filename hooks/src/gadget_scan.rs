//! The scan of code written through windows for PKRU-loading gadgets
//! (`JITGUARD_GADGETS`; the decoder is `jg::gadgets`). Each changed page
//! is scanned in place with three bytes before it and two after it as
//! context, so a sequence straddling two pages is seen: with attestation
//! on, from the neighbours' records (under their locks; a neighbour with
//! no record was never written through a window and gives none), without
//! it read by process_vm_readv. Runs in handlers: no allocation.

use crate::attest::Writer;
use crate::counters::{self, COUNTERS};
use crate::state::globals;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use jg::config::{Gadgets, Mode};

/// Report lines written (the count goes on past the limit).
static LINES: AtomicU64 = AtomicU64::new(0);
const MAX_LINES: u64 = 100;

/// Without attestation (no records): the scan with its context read by
/// process_vm_readv (a neighbour may be unmapped): two system calls.
pub fn scan_with_read_context(page: u64, body: &[u8]) {
    let mut before = [0u8; 3];
    let mut after = [0u8; 2];
    let nb = crate::sys::read_prefix_as(crate::sys::pid(), page - 3, &mut before);
    // A partial read stops at the first unreadable byte.
    let before: &[u8] = if nb == 3 { &before } else { &[] };
    let na = crate::sys::read_prefix_as(crate::sys::pid(), page + jg::PAGE_SIZE, &mut after);
    scan_page(page, before, body, &after[..na], 0);
}

/// Scans `body`, the bytes of guarded `page` (kept mapped by the caller),
/// with `before`/`after` the neighbours' edge bytes where known, written
/// by the writer at `ip` (0: unknown).
pub fn scan_page(page: u64, before: &[u8], body: &[u8], after: &[u8], ip: u64) {
    let g = globals();
    if g.config.gadgets == Gadgets::Off {
        return;
    }
    let t0 = crate::sys::now_ns();
    let mut fatal = false;
    {
        jg::gadgets::scan(before, body, after, |gad| {
            counters::bump(&COUNTERS.gadgets);
            let addr = page.wrapping_add_signed(gad.offset as i64);
            let deny = g.config.gadgets == Gadgets::Deny && g.config.mode == Mode::Enforce;
            fatal |= deny;
            if LINES.fetch_add(1, Relaxed) < MAX_LINES || deny {
                use core::fmt::Write;
                let mut b = jg::report::StackBuf::<384>::new();
                let _ = writeln!(
                    b,
                    "jitguard: gadget {} written at {addr:#x} (page {:#x} offset {:#x}) by {}{}",
                    gad.kind.name(),
                    jg::page_floor(addr),
                    addr & (jg::PAGE_SIZE - 1),
                    Writer(ip),
                    if deny {
                        "; JITGUARD_GADGETS=deny: killed"
                    } else {
                        ""
                    }
                );
                crate::log::report(b.as_bytes());
            }
        });
    }
    counters::add(&COUNTERS.gadget_ns, crate::sys::now_ns().saturating_sub(t0));
    if fatal {
        // SAFETY: abort is always sound; the code must not stay executable.
        unsafe { libc::abort() };
    }
}
