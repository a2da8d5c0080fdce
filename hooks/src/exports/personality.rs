//! `personality()`: READ_IMPLIES_EXEC would make every readable mapping
//! executable (the kernel adds PROT_EXEC in mmap), so `mmap(RW)` would
//! give W+X memory that jitguard never sees asked for.

use libc::{c_int, c_ulong};

/// # Safety
/// libc's `personality` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn personality(persona: c_ulong) -> c_int {
    crate::tamper::check_here("personality");
    crate::seccomp::personality(persona)
}
