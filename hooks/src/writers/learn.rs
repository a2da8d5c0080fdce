//! Learn mode: the deciding frames seen, with the writer inside a shared
//! library where there was one, written into a profile at exit.
//!
//! A fixed open-addressing table of atomics, filled from the handler
//! without allocation or locks.

use super::view::view;
use crate::counters::{self, COUNTERS};
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64};
use jg::profile::Profile;

/// After the profile is written at exit, destructors of libraries that
/// were initialised before jitguard (a runtime's teardown freeing its
/// code memory) still write: each new site is appended to the profile
/// from the handler, as one `site` line through this descriptor
/// (-1: not at that stage).
static LATE_FD: AtomicI32 = AtomicI32::new(-1);

const LEARN_SLOTS: usize = 16384;
static LEARNED: [AtomicU64; LEARN_SLOTS] = [const { AtomicU64::new(0) }; LEARN_SLOTS];
static LEARNED_VIA: [AtomicU64; LEARN_SLOTS] = [const { AtomicU64::new(0) }; LEARN_SLOTS];
static LEARN_FULL: AtomicBool = AtomicBool::new(false);

/// Records the deciding frame `decider` of a write by `writer`.
pub fn learn(decider: u64, writer: u64) {
    let mut i = (decider.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 50) as usize % LEARN_SLOTS;
    for _ in 0..LEARN_SLOTS {
        match LEARNED[i].compare_exchange(0, decider, AcqRel, Acquire) {
            Ok(_) => {
                if writer != decider {
                    LEARNED_VIA[i].store(writer, Relaxed);
                }
                append_late(decider);
                return;
            }
            Err(v) if v == decider => return,
            Err(_) => i = (i + 1) % LEARN_SLOTS,
        }
    }
    if !LEARN_FULL.swap(true, Relaxed) {
        crate::log!(
            Warn,
            "learn table full: later writer sites are not recorded"
        );
    }
}

/// A site first seen after the profile was written: one line, formatted
/// on the stack and written with one system call (in the handler).
fn append_late(decider: u64) {
    let fd = LATE_FD.load(Acquire);
    if fd < 0 {
        return;
    }
    let Some(view) = view() else { return };
    let place = view.table.place(decider);
    let Some(m) = place.module else { return };
    if m.bias == own_bias(&view) {
        return;
    }
    use core::fmt::Write;
    let mut b = jg::report::StackBuf::<512>::new();
    let _ = write!(b, "site {}+{:#x}", m.name, place.offset);
    if let Some((sym, off)) = place.symbol {
        let _ = write!(b, " # {sym}+{off:#x} (at exit)");
    }
    let _ = b.write_str("\n");
    crate::sys::write_all(fd, b.as_bytes());
}

/// jitguard's own load bias (its code never goes into a profile).
fn own_bias(view: &super::View) -> u64 {
    view.table
        .find(save_learned as *const () as usize as u64)
        .map_or(u64::MAX, |m| m.bias)
}

/// Writes what learn mode saw into the profile at `path` (merged with what
/// the file already holds). Runs at exit, outside any handler. jitguard's
/// own code never goes into a profile (its REP emulation can fault when
/// another thread reseals a page mid-copy).
pub fn save_learned(path: &str) {
    let Some(view) = view() else { return };
    let own = view.table.find(save_learned as *const () as usize as u64);
    let own = own.map(|m| (m.bias, m.path.clone()));
    let mut learned = Profile::default();
    for (d, via) in LEARNED.iter().zip(LEARNED_VIA.iter()) {
        let d = d.load(Acquire);
        if d == 0 {
            continue;
        }
        if let (Some((bias, path)), Some(m)) = (&own, view.table.find(d)) {
            if m.bias == *bias && &m.path == path {
                continue;
            }
        }
        let via = via.load(Relaxed);
        let writer = (via != 0).then(|| view.table.place(via));
        learned.learn(&view.table.place(d), writer.as_ref());
    }
    let n = learned.sites.len();
    let mut profile = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| Profile::parse(&t).ok())
        .unwrap_or_default();
    profile.merge(learned);
    let tmp = format!("{path}.tmp.{}", std::process::id());
    let result = std::fs::write(&tmp, profile.render()).and_then(|()| std::fs::rename(&tmp, path));
    match result {
        Ok(()) => crate::log!(
            Info,
            "learned {n} writer sites; {} in {path}",
            profile.sites.len()
        ),
        Err(e) => crate::log::emit(format_args!("jitguard: cannot write profile {path}: {e}")),
    }
    // Writes after this point (later destructors) are appended as they
    // come.
    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(path) {
        use std::os::fd::IntoRawFd;
        LATE_FD.store(f.into_raw_fd(), Release);
    }
    let unnamed = counters::get(&COUNTERS.unnamed_writers);
    if unnamed > 0 {
        crate::log::emit(format_args!(
            "jitguard: {unnamed} writes in learn mode came from a shared routine whose caller could not be found; they are not in the profile"
        ));
    }
}
