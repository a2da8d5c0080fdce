//! libjitguard.so: the LD_PRELOAD layer.
//!
//! This crate is the only place with `unsafe`; every decision it acts on
//! comes from the pure `jitguard` crate (imported here as `jg`).
//!
//! Layers, each depending only on those above it:
//! - `sys`, `log`, `pkru`, `counters`, `published`, `real`: system calls,
//!   the allocation-free logger, PKRU access, counters, lock-free
//!   publication, the real libc functions;
//! - `regions`, `protect`, `state`: the guarded regions and their
//!   snapshot, the protection (pkey or mprotect) with its one sealing
//!   implementation per backend, and what start-up fixed;
//! - `window` (the thread's write window and the reseal trampoline),
//!   `writers` (modules, walk, learn), `rep`, `report`;
//! - `attest` (content records of guarded pages, checked before reopening,
//!   at exit and by a sweep), `gadget_scan` and `startup_gadgets` (PKRU-
//!   loading sequences in written code and in the loaded modules);
//! - `fault` (decode → decide → apply), `signals`/`sigmask` (the program's
//!   signal actions and masks), `mapping`/`remap` (the mapping calls),
//!   `aliases`/`shm`/`persona` (writable aliases of code);
//! - `gate` (system calls that write guarded memory, judged by their call
//!   site and opened for the call), `memfile` (is a descriptor the
//!   process's own `mem` file);
//! - `exports` (the C functions), `init` (start-up and exit);
//! - beside them all, `vault`: the protected memory jitguard's own state
//!   lives in (and the allocator that puts it there).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// In unit tests the handlers and exports are reachable only from the
// constructor and the dynamic symbol table, which tests leave out.
#![cfg_attr(test, allow(dead_code))]

mod aliases;
mod attest;
mod counters;
pub mod exports;
mod fault;
mod gadget_scan;
mod gate;
mod init;
#[macro_use]
mod log;
mod mapping;
mod memfile;
mod persona;
mod pkru;
mod procmap;
mod protect;
mod published;
mod real;
mod regions;
mod remap;
mod rep;
mod report;
mod seccomp;
mod shm;
mod sigmask;
mod signals;
mod stack;
mod startup_gadgets;
mod state;
mod stats_file;
mod status;
mod sys;
mod tamper;
mod vault;
mod window;
mod writers;
