//! Writing the stats file at exit (`JITGUARD_STATS`, `%p` = pid).
//!
//! A path without `%p` is written only by a process that guarded
//! something (at least one region): every process that inherits the
//! variable would otherwise write it, and a wrapper that guarded nothing
//! (`/usr/bin/time`, a shell, `env`), exiting after the JIT, would replace
//! the JIT's stats with its own empty ones. With `%p` every process writes
//! its own file, guarded or not.

use crate::counters::COUNTERS;
use crate::regions;
use crate::state::globals;
use core::sync::atomic::{AtomicU64, Ordering};
use jg::stats::Stats;

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A forked child counts its own events from zero.
pub fn reset_for_child() {
    crate::counters::reset_in_child();
}

/// Pages given a code key over the run (pkey backend).
fn keyed_pages() -> u64 {
    COUNTERS.pages_by_key.iter().map(get).sum()
}

pub fn collect() -> Stats {
    let g = globals();
    let (regions_bytes, _) = regions::read(|map| (map.bytes(), map.len()));
    // Hashed: pages given their own code key. Single (one key for all) and
    // mprotect: page openings.
    let hashed = g
        .protection
        .keys()
        .is_some_and(|k| k.policy() == jg::config::Policy::Hashed);
    let pages = if hashed {
        keyed_pages()
    } else {
        get(&COUNTERS.pages_opened)
    };
    Stats {
        pid: crate::sys::getpid(),
        mode: g.config.mode.name().into(),
        policy: g.protection.policy_name(g.config.policy).into(),
        backend: g.protection.backend().name().into(),
        writer_profile: crate::writers::source_name(),
        regions: get(&COUNTERS.regions),
        guarded_bytes: regions_bytes,
        pages,
        keys: g.protection.key_set().len() as u64,
        write_faults: get(&COUNTERS.write_faults),
        opens: get(&COUNTERS.opens),
        denials: get(&COUNTERS.denials),
        audited: get(&COUNTERS.audited),
        rep_emulations: get(&COUNTERS.rep_emulations),
        rep_bytes: get(&COUNTERS.rep_bytes),
        reseals: get(&COUNTERS.reseals),
        seal_fixups: get(&COUNTERS.seal_fixups),
        chained_signals: get(&COUNTERS.chained_signals),
        handler_ns: get(&COUNTERS.handler_ns),
        exposed_pages_sum: get(&COUNTERS.exposed_pages_sum),
        keys_ahead: get(&COUNTERS.keys_ahead),
        unnamed_writers: get(&COUNTERS.unnamed_writers),
        call_windows: get(&COUNTERS.call_windows),
        pkru_tampered: get(&COUNTERS.pkru_tampered),
        seccomp_traps: get(&COUNTERS.seccomp_traps),
        seccomp_refused: get(&COUNTERS.seccomp_refused),
        window: g.config.window.name().into(),
        attest: crate::attest::in_force().name(),
        attested_pages: get(&COUNTERS.attested_pages),
        attest_checks: get(&COUNTERS.attest_checks),
        tampered: get(&COUNTERS.tampered),
        gadgets: get(&COUNTERS.gadgets),
        attest_ns: get(&COUNTERS.attest_ns),
        gadget_ns: get(&COUNTERS.gadget_ns),
        startup_wrpkru: crate::startup_gadgets::counts().wrpkru,
        startup_xrstor: crate::startup_gadgets::counts().xrstor,
        startup_gadgets: crate::startup_gadgets::listing(),
    }
}

pub fn write_at_exit() {
    let g = globals();
    let Some(path) = &g.config.stats else { return };
    if !jg::stats::should_write(path, get(&COUNTERS.regions)) {
        crate::log!(
            Info,
            "not writing stats to {path}: this process guarded nothing (use %p for one file per process)"
        );
        return;
    }
    let path = jg::config::expand_pid(path, crate::sys::getpid());
    let json = collect().to_json();
    if let Err(e) = std::fs::write(&path, json) {
        crate::log!(Warn, "could not write stats to {path}: {e}");
    }
}
