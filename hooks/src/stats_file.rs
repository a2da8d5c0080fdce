//! Writing the stats file at exit (`JITGUARD_STATS`, `%p` = pid).

use crate::state::{globals, COUNTERS, REGIONS};
use core::sync::atomic::{AtomicU64, Ordering};
use jg::config::Backend;
use jg::stats::Stats;

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A forked child counts its own events from zero.
pub fn reset_for_child() {
    for c in [
        &COUNTERS.write_faults,
        &COUNTERS.opens,
        &COUNTERS.denials,
        &COUNTERS.audited,
        &COUNTERS.rep_emulations,
        &COUNTERS.rep_bytes,
        &COUNTERS.reseals,
        &COUNTERS.seal_fixups,
        &COUNTERS.chained_signals,
        &COUNTERS.handler_ns,
        &COUNTERS.exposed_pages_sum,
        &COUNTERS.pages_opened,
    ] {
        c.store(0, Ordering::Relaxed);
    }
}

/// Pages of guarded regions that hold one of the code keys, from the
/// kernel's own smaps (pkey backend only).
fn keyed_pages(code_keys: &[u32]) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let map = REGIONS.lock();
    jg::maps::parse_smaps(&text)
        .iter()
        .filter(|m| m.protection_key.is_some_and(|k| code_keys.contains(&k)))
        .filter(|m| map.find(m.start).is_some())
        .map(|m| m.pages())
        .sum()
}

pub fn collect() -> Stats {
    let g = globals();
    let (regions_bytes, _) = {
        let map = REGIONS.lock();
        (map.bytes(), map.len())
    };
    let keyed = match (&g.backend, &g.keys) {
        (Backend::Pkey, Some(k)) => keyed_pages(k.code_keys()),
        _ => 0,
    };
    Stats {
        pid: crate::sys::getpid(),
        mode: g.config.mode.name().into(),
        policy: g
            .keys
            .as_ref()
            .map_or(g.config.policy, |k| k.policy())
            .name()
            .into(),
        backend: g.backend.name().into(),
        regions: get(&COUNTERS.regions),
        guarded_bytes: regions_bytes,
        pages: keyed.max(if g.backend == Backend::Pkey {
            0
        } else {
            get(&COUNTERS.pages_opened)
        }),
        keys: g.key_set.len() as u64,
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
    }
}

pub fn write_at_exit() {
    let g = globals();
    let Some(path) = &g.config.stats else { return };
    let path = jg::config::expand_pid(path, crate::sys::getpid());
    let json = collect().to_json();
    if let Err(e) = std::fs::write(&path, json) {
        crate::log!(Warn, "could not write stats to {path}: {e}");
    }
}
