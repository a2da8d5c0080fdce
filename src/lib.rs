//! jitguard: the pure, safe half of the project.
//!
//! Everything a protection decision depends on lives here, free of `unsafe`
//! and testable without a signal ever firing: configuration, the key policy,
//! PKRU arithmetic, region bookkeeping, the writer policy, the x86 decoding
//! the fault handler needs, and the report formats. The LD_PRELOAD layer in
//! `hooks/` is a thin shell around these.
#![forbid(unsafe_code)]

pub mod aliases;
pub mod bench;
pub mod cli;
pub mod conffile;
pub mod config;
pub mod coverage;
pub mod elf;
pub mod gadgets;
pub mod gate;
pub mod keys;
pub mod maps;
pub mod modules;
pub mod pkru;
pub mod predict;
pub mod procmap;
pub mod procmem;
pub mod profile;
pub mod regions;
pub mod report;
pub mod seccomp_policy;
pub mod stats;
pub mod status;
pub mod strace;
pub mod syslog;
pub mod tamper;
pub mod unwind;
pub mod window;
pub mod writer;
pub mod x86;

/// Size of the unit jitguard keys and opens: one x86-64 base page.
pub const PAGE_SIZE: u64 = 4096;

/// Page number of an address.
pub const fn page_of(addr: u64) -> u64 {
    addr >> 12
}

/// Round `addr` down to its page boundary.
pub const fn page_floor(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Round `addr` up to the next page boundary (saturating at the top).
pub const fn page_ceil(addr: u64) -> u64 {
    match addr.checked_add(PAGE_SIZE - 1) {
        Some(v) => v & !(PAGE_SIZE - 1),
        None => !(PAGE_SIZE - 1),
    }
}
