//! Event counters, written with relaxed atomics from hooks and handlers.
//! They decide nothing (the stats file and `jitguard status` report them),
//! so they may stay in ordinary writable memory.
//!
//! One list generates the struct, its static and the fork reset.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    (
        kept_in_child { $($kept:ident: $kept_doc:literal,)* }
        reset_in_child { $($reset:ident: $reset_doc:literal,)* }
    ) => {
        pub struct Counters {
            $(#[doc = $kept_doc] pub $kept: AtomicU64,)*
            $(#[doc = $reset_doc] pub $reset: AtomicU64,)*
            /// Pages given each code key (pkey backend), for the exposure
            /// figure; kept in a fork child, whose pages keep their keys.
            pub pages_by_key: [AtomicU64; 16],
        }

        pub static COUNTERS: Counters = Counters {
            $($kept: AtomicU64::new(0),)*
            $($reset: AtomicU64::new(0),)*
            pages_by_key: [const { AtomicU64::new(0) }; 16],
        };

        /// A forked child counts its own events from zero.
        pub fn reset_in_child() {
            $(COUNTERS.$reset.store(0, Relaxed);)*
        }
    };
}

counters! {
    kept_in_child {
        regions: "Guarded regions created over the run.",
    }
    reset_in_child {
        write_faults: "Write faults on guarded pages.",
        opens: "Write windows opened.",
        denials: "Writes refused by the writer policy.",
        audited: "Writes the policy would refuse, allowed in audit mode.",
        rep_emulations: "REP string writes completed in one go.",
        rep_bytes: "Bytes written by REP emulation.",
        reseals: "Windows sealed again.",
        seal_fixups: "Faults from contexts whose PKRU was not sealed.",
        chained_signals: "Signals passed on to the program's handlers.",
        handler_ns: "Nanoseconds spent in jitguard's handlers.",
        exposed_pages_sum: "Pages writable while windows were open, summed.",
        keys_ahead: "Keys opened with a new call window by key prediction.",
        pages_opened: "Pages opened (mprotect), recorded into windows.",
        unnamed_writers: "Writes from shared routines whose caller could not be found.",
        call_windows: "Windows that lasted one trusted writer call.",
        pkru_tampered: "Contexts found with jitguard's keys write-enabled outside a window.",
        seccomp_traps: "Raw system calls the seccomp filter trapped and jitguard ran.",
        seccomp_refused: "Trapped calls refused (process_vm_writev into this process).",
        attested_pages: "Page records taken at reseals (content changed).",
        attest_checks: "Sealed pages compared with their records.",
        tampered: "Sealed pages found changed (tampered code).",
        gadgets: "PKRU-loading gadgets found in written code.",
        attest_ns: "Nanoseconds spent attesting (records, checks, sweeps; scans included).",
        gadget_ns: "Nanoseconds spent scanning written code for gadgets.",
    }
}

/// Guarded pages right now, kept up to date by every edit of the map.
pub static GUARDED_PAGES: AtomicU64 = AtomicU64::new(0);

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

pub fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}
