//! The scan of code written through windows for PKRU-loading gadgets
//! (`JITGUARD_GADGETS`; the decoder is `jg::gadgets`). Each changed page
//! is scanned in place with three bytes before it and two after it as
//! context, so a sequence straddling two pages is seen: with attestation
//! on, from the neighbours' records (under their locks; a neighbour with
//! no record was never written through a window and gives none), without
//! it read directly from guarded neighbours. Runs in handlers: no
//! allocation, no system call.

use crate::attest::Writer;
use crate::counters::{self, COUNTERS};
use crate::state::globals;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use jg::config::{Gadgets, Mode};

/// Report lines written (the count goes on past the limit).
static LINES: AtomicU64 = AtomicU64::new(0);
const MAX_LINES: u64 = 100;

/// Without attestation (no records): the scan with its context read
/// directly from a neighbour that is guarded and readable too (mapped:
/// the same documented limit as the body's own read, which no record lock
/// keeps from a concurrent munmap). A neighbour outside guard gives no
/// context, as it gives none with attestation (it was never written
/// through a window): reading it, perhaps unmapped, took a
/// process_vm_readv, about one per window (WAMR resealing its code
/// heap's first page each time), on a fault path that makes no other
/// system call under pkey.
pub fn scan_with_read_context(page: u64, body: &[u8]) {
    let mut before = [0u8; 3];
    let mut after = [0u8; 2];
    let nb = edge(page - jg::PAGE_SIZE, page - 3, &mut before);
    let na = edge(page + jg::PAGE_SIZE, page + jg::PAGE_SIZE, &mut after);
    scan_page(page, &before[..nb], body, &after[..na], 0);
}

/// Copies the bytes at `addr` (inside `neighbour`) into `buf` if that
/// page is guarded and readable; returns how many were read (all or
/// none).
fn edge(neighbour: u64, addr: u64, buf: &mut [u8]) -> usize {
    let readable =
        crate::regions::guarded_prot(neighbour).is_some_and(|p| p & libc::PROT_READ != 0);
    if !readable {
        return 0;
    }
    // SAFETY: `[addr, addr + buf.len())` lies inside `neighbour`, a
    // guarded page whose protection has PROT_READ: mapped and readable
    // (the caller made jitguard's keys readable), as for the page being
    // scanned.
    unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
    buf.len()
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
