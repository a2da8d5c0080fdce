//! Code attestation: a guarded page's content is recorded when the window
//! that opened it reseals, and checked before it is opened again, at exit
//! and (`JITGUARD_ATTEST=MS`) by a sweep. Every legitimate change goes
//! through a window, the REP emulation or a mapping call jitguard sees, so
//! a sealed page that differs from its record was written around the seal
//! (`/proc/self/mem`, `process_vm_writev`, a second mapping of the same
//! file, a key-opening gadget).
//!
//! Under pkey a window opens a key, not a page: every page under that key
//! is writable by the thread until it reseals. So opening key K checks
//! every record under K, and resealing it takes every record under K again
//! (under mprotect exactly the window's pages). A counter per key (per
//! bucket under mprotect) says how many windows have it open: records
//! under an open key are in flux and are neither compared nor trusted
//! until the last of those windows has retaken them; a generation number
//! per key lets a check see that a window opened while it was reading.
//!
//! This module is the only user of the table (`table.rs`), behind this
//! small API, so the records can later move into protected memory.

mod report;
mod sweep;
mod table;

use crate::counters::{self, COUNTERS};
use crate::state::{globals, protection};
use crate::{pkru, signals};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use jg::config::{Gadgets, Mode};
use jg::window::Window;
use once_cell::sync::OnceCell;
pub use report::Writer;
use report::{report_tamper, Found};
pub use table::CHUNK;
use table::{Table, Verdict};

static TABLE: OnceCell<&'static Table> = OnceCell::new();
static SEED: AtomicU64 = AtomicU64::new(0);
/// Windows (and REP emulations) holding each key / bucket open.
static OPEN: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
/// Bumped whenever a window opens the key / bucket.
static GEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static FULL_NOTED: AtomicU32 = AtomicU32::new(0);

fn seed() -> u64 {
    SEED.load(Relaxed)
}

fn table() -> Option<&'static Table> {
    TABLE.get().copied()
}

/// Start-up (outside any handler): the table, when attestation is on.
pub fn init(seed: u64) {
    if !in_force().enabled() {
        return;
    }
    SEED.store(seed, Relaxed);
    match Table::allocate() {
        Some(t) => {
            let _ = TABLE.set(t);
        }
        None => crate::log!(
            Warn,
            "attestation table could not be mapped; attestation off"
        ),
    }
}

/// Start-up, once the hooks are on: the sweep thread, if configured.
pub fn start_sweep() {
    if let (Some(ms), Some(_)) = (in_force().sweep_ms(), table()) {
        sweep::start(ms);
    }
}

/// The attestation in force (`auto` resolved for the backend).
pub fn in_force() -> jg::config::Attest {
    globals().config.attest.resolve(protection().backend())
}

/// Which open counter covers `page`: its code key under pkey, a hash of
/// the address under mprotect.
fn bucket(page: u64) -> u32 {
    match protection().keys() {
        Some(k) => k.key_for_addr(page),
        None => (jg::page_of(page).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as u32,
    }
}

/// Under pkey a handler starts with the kernel's PKRU (jitguard's keys
/// access-disabled): make them readable for hashing. A handler's PKRU is
/// replaced by the frame's at return; ordinary code has them readable.
fn make_readable() {
    if let Some(k) = protection().keys() {
        let p = pkru::read();
        let r = p.readable(k.set);
        if r != p {
            pkru::write(r);
        }
    }
}

/// Whether this process has forked (its shared views are then shared with
/// a child that writes them through windows of its own).
static FORKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// In the parent, after a fork.
pub fn after_fork_parent() {
    FORKED.store(true, SeqCst);
}

/// Checks one record; a change found while the page's key stayed closed
/// is tampering (reported; true if the process must die).
/// `mine` is how many of the bucket's openings are the caller's own.
fn check_record(r: &table::Record, found: Found, mine: u32) -> bool {
    // A view of a shared object (a writable alias of code) once this
    // process has forked: the child shares the object and changes it
    // legitimately, through its own windows. Not attested (SECURITY.md).
    if FORKED.load(SeqCst) && crate::aliases::tracks(r.page(), r.page() + jg::PAGE_SIZE) {
        return false;
    }
    let b = r.bucket() as usize % 16;
    let gen = GEN[b].load(SeqCst);
    // Open in another window: in flux.
    if OPEN[b].load(SeqCst) > mine {
        return false;
    }
    counters::bump(&COUNTERS.attest_checks);
    let Verdict::Changed { chunk_offset } = r.verify() else {
        return false;
    };
    core::sync::atomic::fence(SeqCst);
    if GEN[b].load(SeqCst) != gen || OPEN[b].load(SeqCst) > mine {
        return false;
    }
    report_tamper(r, chunk_offset, found);
    // Report once: the record now describes what is there.
    let _ = r.take(|_| {});
    globals().config.mode == Mode::Enforce
}

fn open_bucket(b: u32) {
    // Generation first: a check that read before this saw the page closed.
    GEN[b as usize % 16].fetch_add(1, SeqCst);
    OPEN[b as usize % 16].fetch_add(1, SeqCst);
}

fn close_bucket(b: u32) {
    let _ = OPEN[b as usize % 16].fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
}

/// Counts the time `f` takes into `attest_ns`.
fn timed<R>(f: impl FnOnce() -> R) -> R {
    let t0 = crate::sys::now_ns();
    let r = f();
    counters::add(&COUNTERS.attest_ns, crate::sys::now_ns().saturating_sub(t0));
    r
}

fn note_full() {
    if FULL_NOTED.swap(1, Relaxed) == 0 {
        crate::log!(
            Warn,
            "attestation table full ({} pages): further pages are not attested",
            table::CAPACITY
        );
    }
}

/// In the fault handler, before `page` (whose key is now `key`) is opened
/// into `w` for the writer at `ip`: checks what the opening exposes.
/// Returns false if tampering was found and the process must die (the
/// handler then makes the write fault fatally).
pub fn before_open(w: &Window, page: u64, key: u32, ip: u64) -> bool {
    let Some(t) = table() else { return true };
    timed(|| open_checked(t, w, page, key, ip))
}

fn open_checked(t: &Table, w: &Window, page: u64, key: u32, ip: u64) -> bool {
    make_readable();
    let b = bucket(page);
    let mut fatal = false;
    let newly = match protection().keys() {
        Some(_) => !w.keys().contains(key),
        None => !w.pages().contains(&page),
    };
    if newly {
        open_bucket(b);
        if protection().keys().is_some() {
            // Every page under the key becomes writable, and this page
            // (it may be leaving the reserve key, which no window opens:
            // pages still under it are not exposed).
            for r in t
                .records()
                .iter()
                .filter(|r| r.is_live() && (r.key() == key || r.page() == page))
            {
                fatal |= check_record(r, Found::Open, 1);
            }
        } else if let Some(r) = t.find(page) {
            fatal |= check_record(r, Found::Open, 1);
        }
    }
    match t.find_or_insert(page) {
        Some(r) => r.revive(key, b, ip),
        None => note_full(),
    }
    if fatal {
        signals::die_by_segv_on_return();
    }
    !fatal
}

/// After window `w` was sealed: its records taken again, written code
/// scanned for gadgets.
pub fn after_seal(w: &Window) {
    let Some(t) = table() else {
        if globals().config.gadgets != Gadgets::Off {
            // In a handler the kernel's PKRU denies reading the code keys
            // (a read of the page there faulted again, forever, under an
            // instruction window's trap).
            make_readable();
            for &page in w.pages() {
                // A page the window's own writer unmapped meanwhile (a
                // runtime freeing code memory inside the call) is not
                // read.
                if crate::regions::guarded_prot(page).is_none() {
                    continue;
                }
                // SAFETY: the window just sealed this page: guarded, mapped
                // and readable (without attestation no record lock keeps
                // a concurrent munmap out: a documented limit).
                let body = unsafe {
                    core::slice::from_raw_parts(page as *const u8, jg::PAGE_SIZE as usize)
                };
                crate::gadget_scan::scan_with_read_context(page, body);
            }
        }
        return;
    };
    timed(|| seal_taken(t, w));
}

fn seal_taken(t: &Table, w: &Window) {
    make_readable();
    match protection().keys() {
        Some(k) => {
            for key in 0..16 {
                if w.keys().contains(key) && k.set.contains(key) {
                    retake(t.records().iter().filter(|r| r.is_live() && r.key() == key));
                    close_bucket(key);
                }
            }
        }
        None => after_seal_pages(w.pages()),
    }
}

/// Under mprotect, pages sealed before their window ends (a long call
/// window's full list).
pub fn after_seal_pages(pages: &[u64]) {
    let Some(t) = table() else { return };
    if protection().keys().is_some() {
        return;
    }
    timed(|| retake(pages.iter().filter_map(|&p| t.find(p))));
    for &p in pages {
        close_bucket(bucket(p));
    }
}

fn retake<'a>(records: impl Iterator<Item = &'a table::Record>) {
    let scan = globals().config.gadgets != Gadgets::Off;
    let t = table();
    for r in records {
        let changed = r.take(|bytes| {
            if let (true, Some(t)) = (scan, t) {
                // Context from the neighbours' own records (their pages
                // kept mapped by their locks): a page without a record
                // was never written through a window.
                let page = r.page();
                let mut before = [0u8; 3];
                let mut after = [0u8; 2];
                let nb = t
                    .find(page.wrapping_sub(jg::PAGE_SIZE))
                    .map_or(0, |n| n.copy_edge(true, &mut before));
                let na = t
                    .find(page + jg::PAGE_SIZE)
                    .map_or(0, |n| n.copy_edge(false, &mut after));
                crate::gadget_scan::scan_page(page, &before[..nb], bytes, &after[..na], r.writer());
            }
        });
        if changed == Some(true) {
            counters::bump(&COUNTERS.attested_pages);
        }
    }
}

/// Before the REP emulation writes `[lo, hi)` (page-aligned, guarded).
pub fn rep_begin(lo: u64, hi: u64) -> bool {
    let Some(t) = table() else { return true };
    timed(|| rep_checked(t, lo, hi))
}

fn rep_checked(t: &Table, lo: u64, hi: u64) -> bool {
    make_readable();
    let mut fatal = false;
    let mut p = lo;
    while p < hi {
        if let Some(r) = t.find(p) {
            fatal |= check_record(r, Found::Open, 0);
        }
        p += jg::PAGE_SIZE;
    }
    if fatal {
        // Nothing will be written: no bucket opens. (The instruction
        // faults again and the process dies; should it not, because
        // another window holds the page open meanwhile, the counts stay
        // true.)
        signals::die_by_segv_on_return();
        return false;
    }
    p = lo;
    while p < hi {
        open_bucket(bucket(p));
        p += jg::PAGE_SIZE;
    }
    true
}

/// The REP emulation gave up after `rep_begin` (the pages could not be
/// opened): nothing was written; the open counts go back.
pub fn rep_abandoned(lo: u64, hi: u64) {
    if table().is_none() {
        return;
    }
    let mut p = lo;
    while p < hi {
        close_bucket(bucket(p));
        p += jg::PAGE_SIZE;
    }
}

/// After the REP emulation wrote `[lo, hi)` for the instruction at `ip`.
pub fn rep_end(lo: u64, hi: u64, ip: u64) {
    let Some(t) = table() else {
        return;
    };
    timed(|| rep_taken(t, lo, hi, ip));
}

fn rep_taken(t: &Table, lo: u64, hi: u64, ip: u64) {
    let mut p = lo;
    while p < hi {
        match t.find_or_insert(p) {
            Some(r) => {
                // A page REP wrote keeps its key (the reserve key until a
                // window first opens it).
                let key = if r.is_live() {
                    r.key()
                } else {
                    protection().keys().map_or(0, |k| k.reserve_key())
                };
                r.revive(key, bucket(p), ip);
                retake(core::iter::once(r));
            }
            None => note_full(),
        }
        close_bucket(bucket(p));
        p += jg::PAGE_SIZE;
    }
}

/// `[start, end)` leaves guard or loses its content legitimately
/// (munmap, mremap's old range, madvise, re-protection by the program):
/// called before the system call, outside any handler.
pub fn forget(start: u64, end: u64) {
    let Some(t) = table() else { return };
    for r in t.records() {
        let p = r.page();
        if r.is_live() && start <= p && p < end {
            r.forget();
        }
    }
}

/// Checks every sealed record (at exit, and by the sweep). Returns
/// whether tampering that must kill was found.
fn check_all(found: Found) -> bool {
    let Some(t) = table() else { return false };
    timed(|| check_every(t, found))
}

fn check_every(t: &Table, found: Found) -> bool {
    make_readable();
    let mut fatal = false;
    for r in t.records().iter().filter(|r| r.is_live()) {
        fatal |= check_record(r, found, 0);
    }
    fatal
}

/// At exit: whether tampering found now must end the process (by
/// SIGABRT, in enforce mode, once the stats are written).
pub fn at_exit_check() -> bool {
    check_all(Found::Exit)
}

/// In a fork child: the other threads' windows and locks are gone.
pub fn after_fork_child(w: &Window) {
    FORKED.store(true, SeqCst);
    let Some(t) = table() else { return };
    t.unlock_all();
    for o in &OPEN {
        o.store(0, SeqCst);
    }
    match protection().keys() {
        Some(_) => (0..16)
            .filter(|&k| w.keys().contains(k))
            .for_each(open_bucket),
        None => w.pages().iter().for_each(|&p| open_bucket(bucket(p))),
    }
}
