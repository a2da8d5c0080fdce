//! The persona, for the alias guard: under `personality(READ_IMPLIES_EXEC)`
//! the kernel makes every readable mapping executable, so a readable and
//! writable one is W+X. The flag belongs to each thread (inherited by the
//! threads it creates); it is read only once jitguard has seen it set.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use jg::aliases::effective_prot;
use libc::c_int;

/// Set once any thread may run with READ_IMPLIES_EXEC (at start-up, or
/// through `personality`): only then is the thread's personality read.
static READ_IMPLIES_EXEC_SEEN: AtomicBool = AtomicBool::new(false);

const PERSONALITY_QUERY: libc::c_ulong = 0xffff_ffff;

/// The calling thread's personality (a query changes nothing).
pub fn personality_now() -> u32 {
    // SAFETY: personality(0xffffffff) only reads the persona.
    unsafe { crate::sys::syscall!(libc::SYS_personality, PERSONALITY_QUERY) as u32 }
}

/// Notes that READ_IMPLIES_EXEC may be in force (start-up check, or the
/// program's `personality` call).
pub fn note_personality(persona: u32) {
    if persona != PERSONALITY_QUERY as u32
        && persona & jg::aliases::READ_IMPLIES_EXEC != 0
        && !READ_IMPLIES_EXEC_SEEN.swap(true, Relaxed)
    {
        crate::log!(
            Info,
            "READ_IMPLIES_EXEC: readable mappings are executable; readable and writable ones are guarded as W+X"
        );
    }
}

/// The protection the kernel gives `prot` in the calling thread.
pub fn effective(prot: c_int) -> c_int {
    let rie = READ_IMPLIES_EXEC_SEEN.load(Relaxed)
        && personality_now() & jg::aliases::READ_IMPLIES_EXEC != 0;
    effective_prot(prot, rie)
}

/// Start-up: READ_IMPLIES_EXEC set before exec.
pub fn check_personality_at_start() {
    note_personality(personality_now());
}
