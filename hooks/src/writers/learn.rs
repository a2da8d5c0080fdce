//! Learn mode: the deciding frames seen, with the writer inside a shared
//! library where there was one, written into a profile at exit.
//!
//! A fixed open-addressing table of atomics, filled from the handler
//! without allocation or locks.

use super::view::view;
use crate::counters::{self, COUNTERS};
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use core::sync::atomic::{AtomicBool, AtomicU64};
use jg::profile::Profile;

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
    let unnamed = counters::get(&COUNTERS.unnamed_writers);
    if unnamed > 0 {
        crate::log::emit(format_args!(
            "jitguard: {unnamed} writes in learn mode came from a shared routine whose caller could not be found; they are not in the profile"
        ));
    }
}
