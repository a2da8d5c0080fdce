//! The status record `jitguard status` reads from outside the process.
//!
//! Design: one fixed-layout `#[repr(C)]` record, exported under the
//! dynamic symbol `JITGUARD_STATUS`, filled once at the end of start-up
//! with the settings in force (backend, mode, policy, window, writer
//! profile) and the *addresses* of the live counters (`state::COUNTERS`'
//! fields and `state::GUARDED_PAGES`). The CLI finds the library in
//! `/proc/PID/maps`, the record through the library file's `.dynsym`, and
//! reads the record and then the counters through `/proc/PID/mem`.
//!
//! Why this and not a file under /run or a shared memfd page: the fault
//! path does not change at all (the counters it already bumps are the ones
//! read; nothing is copied, no page is shared, no file is written, no
//! descriptor is held that a daemon could close), the process creates
//! nothing on the file system, and a process that dies leaves nothing
//! stale behind. The price is that reading needs ptrace rights over the
//! process (root, or the same user under `kernel.yama.ptrace_scope` 0/1
//! for dumpable processes), which suits an administrator's tool.
//! The layout is `jg::status` (magic, layout version, size), so the CLI
//! refuses a record it does not understand instead of misreading it.

use crate::counters::{COUNTERS, GUARDED_PAGES};
use crate::state::Globals;
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, Ordering};
use jg::status::{Record, RECORD_SIZE, TEXT_LEN};

/// The record as the CLI reads it (`jg::status::Record::decode`).
#[repr(C)]
pub struct StatusRecord {
    magic: u64,
    version: u32,
    size: u32,
    pid: u32,
    _pad: u32,
    write_faults: u64,
    denials: u64,
    audited: u64,
    opens: u64,
    regions: u64,
    guarded_pages: u64,
    tampered: u64,
    backend: [u8; 16],
    mode: [u8; 16],
    policy: [u8; 16],
    window: [u8; 16],
    profile: [u8; TEXT_LEN],
}

pub struct Status(UnsafeCell<StatusRecord>);
// SAFETY: written by `publish` during start-up (one thread, before the
// hooks are on), then only its profile text by `set_profile` (under the
// writer view's lock) and its pid by `after_fork` (the child's one
// thread); never read inside this process.
unsafe impl Sync for Status {}

const _: () = assert!(core::mem::size_of::<StatusRecord>() == RECORD_SIZE);

#[no_mangle]
#[used]
pub static JITGUARD_STATUS: Status = Status(UnsafeCell::new(StatusRecord {
    magic: 0,
    version: 0,
    size: 0,
    pid: 0,
    _pad: 0,
    write_faults: 0,
    denials: 0,
    audited: 0,
    opens: 0,
    regions: 0,
    guarded_pages: 0,
    tampered: 0,
    backend: [0; 16],
    mode: [0; 16],
    policy: [0; 16],
    window: [0; 16],
    profile: [0; TEXT_LEN],
}));

fn text<const N: usize>(dst: &mut [u8; N], s: &str) {
    let n = s.len().min(N - 1);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
    dst[n..].fill(0);
}

fn addr<T>(p: &T) -> u64 {
    p as *const T as u64
}

/// Fills the record; the magic is written last, so a reader sees either
/// no record or a whole one.
pub fn publish(g: &Globals, profile: &str) {
    // SAFETY: start-up runs on one thread and nothing in this process
    // reads the record.
    let r = unsafe { &mut *JITGUARD_STATUS.0.get() };
    r.version = Record::VERSION;
    r.size = RECORD_SIZE as u32;
    r.pid = crate::sys::getpid();
    r.write_faults = addr(&COUNTERS.write_faults);
    r.denials = addr(&COUNTERS.denials);
    r.audited = addr(&COUNTERS.audited);
    r.opens = addr(&COUNTERS.opens);
    r.regions = addr(&COUNTERS.regions);
    r.guarded_pages = addr(&GUARDED_PAGES);
    // No tamper counter yet: 0 means "none counted".
    r.tampered = 0;
    text(&mut r.backend, g.protection.backend().name());
    text(&mut r.mode, g.config.mode.name());
    text(&mut r.policy, g.protection.policy_name(g.config.policy));
    text(&mut r.window, g.config.window.name());
    text(&mut r.profile, profile);
    fence(Ordering::Release);
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(&mut r.magic, Record::MAGIC) };
}

/// The writer profile in force, once the writer view is built (after
/// start-up: the view waits for the first guarded region). Called under
/// the view's lock. A reader in another process may see the text half
/// written: it is informational.
pub fn set_profile(name: &str) {
    // SAFETY: the one writer of this field (see the Sync impl).
    let r = unsafe { &mut *JITGUARD_STATUS.0.get() };
    text(&mut r.profile, name);
}

/// A fork child is another process.
pub fn after_fork() {
    // SAFETY: the child's only thread (see the Sync impl).
    let r = unsafe { &mut *JITGUARD_STATUS.0.get() };
    r.pid = crate::sys::getpid();
}
