//! The exported C functions, and nothing else: each is a one-line call
//! into the function that does the work. `no_mangle` only outside unit
//! tests, so the test harness never interposes libc on itself.
//!
//! Every export is `unsafe extern "C"`: the program calls it as libc's
//! function of the same name, with libc's contract for its arguments.

pub mod aio;
pub mod files;
pub mod flow;
pub mod io;
pub mod memory;
pub mod raw;
pub mod signals;
