//! The PKRU register and its copy in a signal frame.
//!
//! A signal handler is entered with PKRU reset by the kernel, and a WRPKRU
//! inside the handler does not survive the return. To change the
//! interrupted thread's rights, the handler edits the PKRU word of the XSAVE
//! area the kernel saved in the signal frame, at offset CPUID(0xD, 9).EBX,
//! and sets bit 9 of XSTATE_BV so sigreturn loads it.

use core::sync::atomic::{AtomicUsize, Ordering};
use jg::pkru::Pkru;

/// Offset of PKRU inside the XSAVE area, 0 when the CPU has no PKU.
/// Frozen after start-up: pointed elsewhere, the handler would read and
/// write some other word of the frame as the thread's PKRU.
#[link_section = "jitguard_frozen"]
static PKRU_OFFSET: crate::vault::OwnState<AtomicUsize> =
    crate::vault::OwnState(AtomicUsize::new(0));

const XSTATE_BV_OFFSET: usize = 512;
const SW_BYTES_OFFSET: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const XFEATURE_PKRU: u64 = 1 << 9;

/// Whether the CPU has PKU and the kernel enabled it (OSPKE).
pub fn cpu_has_pku() -> bool {
    // cpuid exists on every x86-64 CPU (the intrinsic is safe).
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    let pku = leaf7.ecx & (1 << 3) != 0;
    let ospke = leaf7.ecx & (1 << 4) != 0;
    pku && ospke
}

/// Finds PKRU's place in the XSAVE area; call once at start.
pub fn init_frame_offset() -> bool {
    if !cpu_has_pku() {
        return false;
    }
    // Leaf 0xD sub-leaf 9 describes the PKRU state component.
    let l = core::arch::x86_64::__cpuid_count(0xD, 9);
    if l.eax < 4 || l.ebx == 0 {
        return false;
    }
    PKRU_OFFSET.store(l.ebx as usize, Ordering::Relaxed);
    true
}

/// Reads this thread's PKRU.
pub fn read() -> Pkru {
    let eax: u32;
    // SAFETY: RDPKRU only reads the register; PKU is checked before use.
    unsafe {
        core::arch::asm!("rdpkru", in("ecx") 0u32, out("eax") eax, out("edx") _, options(nomem, nostack, preserves_flags));
    }
    Pkru(eax)
}

/// Writes this thread's PKRU.
pub fn write(p: Pkru) {
    // SAFETY: WRPKRU changes only this thread's key rights; callers pass
    // values that keep key 0 (all ordinary memory) fully accessible.
    unsafe {
        core::arch::asm!("wrpkru", in("eax") p.0, in("ecx") 0u32, in("edx") 0u32, options(nostack, preserves_flags));
    }
}

/// The XSAVE area of a signal frame, when it has room for PKRU.
fn frame_xsave(ctx: *mut libc::c_void) -> Option<(*mut u8, usize)> {
    let off = PKRU_OFFSET.load(Ordering::Relaxed);
    if off == 0 || ctx.is_null() {
        return None;
    }
    // SAFETY: ctx is the ucontext_t the kernel passed to our SA_SIGINFO
    // handler; fpregs points at the saved FPU/XSAVE area (or is null).
    unsafe {
        let uc = ctx as *mut libc::ucontext_t;
        let fp = (*uc).uc_mcontext.fpregs as *mut u8;
        if fp.is_null() {
            return None;
        }
        let magic = (fp.add(SW_BYTES_OFFSET) as *const u32).read_unaligned();
        let xstate_size = (fp.add(SW_BYTES_OFFSET + 16) as *const u32).read_unaligned() as usize;
        let xfeatures = (fp.add(SW_BYTES_OFFSET + 8) as *const u64).read_unaligned();
        if magic != FP_XSTATE_MAGIC1 || xfeatures & XFEATURE_PKRU == 0 || xstate_size < off + 4 {
            return None;
        }
        Some((fp, off))
    }
}

/// The interrupted thread's PKRU as saved in the frame.
pub fn frame_get(ctx: *mut libc::c_void) -> Option<Pkru> {
    let (fp, off) = frame_xsave(ctx)?;
    // SAFETY: frame_xsave checked the area is an XSAVE frame holding PKRU.
    unsafe {
        let bv = (fp.add(XSTATE_BV_OFFSET) as *const u64).read_unaligned();
        if bv & XFEATURE_PKRU == 0 {
            // Component in its init state: PKRU = 0.
            return Some(Pkru(0));
        }
        Some(Pkru((fp.add(off) as *const u32).read_unaligned()))
    }
}

/// Sets the PKRU the interrupted thread resumes with.
pub fn frame_set(ctx: *mut libc::c_void, p: Pkru) -> bool {
    let Some((fp, off)) = frame_xsave(ctx) else {
        return false;
    };
    // SAFETY: as frame_get; the frame is ours to edit until sigreturn.
    unsafe {
        (fp.add(off) as *mut u32).write_unaligned(p.0);
        let bvp = fp.add(XSTATE_BV_OFFSET) as *mut u64;
        bvp.write_unaligned(bvp.read_unaligned() | XFEATURE_PKRU);
    }
    true
}
