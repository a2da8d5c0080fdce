//! REP string writes completed in one go.
//!
//! With the trap flag set, a `rep movs`/`rep stos` traps after every
//! iteration, so stepping one costs a fault per element (WAMR's 10 MB
//! code-pool initialisation would take millions). When such an instruction
//! faults on guarded memory and its writer is allowed, jitguard does the
//! part inside guarded memory itself and advances the registers.
//!
//! The routine that writes is linked into a section of its own, and the
//! writer policy trusts exactly that section's address range: under
//! mprotect another thread's reseal can revoke a page mid-copy and fault
//! it, and that fault must be recognised as jitguard's own, by address,
//! not by a symbol name that anything could carry.

use crate::counters::{self, COUNTERS};
use crate::regions;
use crate::state::protection;
use crate::sys;
use jg::x86::{self, StringOp, StringRegs};

/// The longest x86 instruction.
pub const MAX_INSN_LEN: usize = 15;

extern "C" {
    static __start_jitguard_rep_text: u8;
    static __stop_jitguard_rep_text: u8;
}

/// The address range of the REP emulation's code.
pub fn code_range() -> (u64, u64) {
    // The linker defines both symbols around the section that holds
    // `write_rep` (kept because it is referenced here); only their
    // addresses are taken.
    (
        &raw const __start_jitguard_rep_text as u64,
        &raw const __stop_jitguard_rep_text as u64,
    )
}

thread_local! {
    /// The destination `write_rep` is writing on this thread, page
    /// aligned (0, 0: none). Set by the handler that judged the write.
    static WRITING: core::cell::Cell<(u64, u64)> = const { core::cell::Cell::new((0, 0)) };
}

/// A fault of `write_rep` itself on the destination it was given: under
/// mprotect another thread resealed one of its pages mid-copy (a thread
/// executing there takes the page back). The write was judged when the
/// emulation began, so the page is made writable again for the rest of
/// the copy, here, in a few instructions: judging it afresh would nest a
/// whole writer walk on top of the first, more than a runtime's small
/// alternate signal stack holds (BEAM's is 13 KiB). Returns whether the
/// fault was one of these.
// Out of line: the handler's own frame stays small.
#[inline(never)]
pub fn refault(code: libc::c_int, write: bool, rip: u64, addr: u64) -> bool {
    let (lo, hi) = WRITING.with(core::cell::Cell::get);
    let (clo, chi) = code_range();
    // Under pkey the handler's own PKRU opens the pages; nothing another
    // thread does revokes that, so a fault there is not one of these.
    let p = protection();
    let mprotect = matches!(p, crate::protect::Protection::Mprotect);
    if !(mprotect
        && code == crate::fault::decode::SEGV_ACCERR
        && write
        && lo <= addr
        && addr < hi
        && clo <= rip
        && rip < chi)
    {
        return false;
    }
    // A page unmapped or unguarded meanwhile is not reopened: the fault
    // goes on as any other (the caller's seal would not close it again).
    let page = jg::page_floor(addr);
    regions::guarded_prot(page).is_some() && p.open_range_for_handler(page, page + jg::PAGE_SIZE)
}

/// The registers a REP string instruction reads, at its fault.
#[derive(Clone, Copy)]
pub struct RepState {
    pub rip: u64,
    pub rax: u64,
    pub regs: StringRegs,
}

/// What the emulation did: the registers to resume with.
pub struct RepDone {
    pub after: StringRegs,
    /// The next instruction, when the whole instruction was done (else the
    /// CPU resumes the rest outside guarded memory).
    pub next_rip: Option<u64>,
}

/// Completes the faulting REP string write at `s` inside guarded memory,
/// if it is one this can do (else None: the caller steps it).
pub fn emulate(s: RepState, fault_addr: u64) -> Option<RepDone> {
    let to_page_end = (jg::PAGE_SIZE - (s.rip & (jg::PAGE_SIZE - 1))).min(MAX_INSN_LEN as u64);
    // SAFETY: the instruction at rip is being executed, so its page is
    // mapped and readable (guarded code is never execute-only); we read no
    // further than that page's end.
    let bytes = unsafe { core::slice::from_raw_parts(s.rip as *const u8, to_page_end as usize) };
    let insn = x86::decode_rep_string(bytes)?;
    let (lo, hi) = regions::with_snapshot(|snap| snap.and_then(|snap| snap.extent(fault_addr)))?;
    let plan = x86::plan_rep(&insn, s.regs, lo, hi)?;
    if insn.op == StringOp::Movs {
        // The source must be readable, not just mapped: probe each page.
        // Overlapping copies are left to the CPU (stepped).
        if x86::needs_elementwise(&plan, s.regs.df) {
            return None;
        }
        let mut p = jg::page_floor(plan.src_lo);
        while p < plan.src_hi {
            if !sys::readable(p) {
                return None;
            }
            p += jg::PAGE_SIZE;
        }
    }
    let (dlo, dhi) = (jg::page_floor(plan.dst_lo), jg::page_ceil(plan.dst_hi));
    // pkey: the handler's own PKRU is open, and the pages keep their keys
    // (pages still under the reserve key stay there: that key is never
    // opened, so they are as sealed as keyed pages).
    // Checked while still sealed: under mprotect the opening makes the
    // pages writable by every thread, and another thread's store landing
    // between the opening and the check (a concurrent writer of the same
    // code page, such as a second compiler thread's allocator) read as
    // tampering and killed the runtime.
    if !crate::attest::rep_begin(dlo, dhi) {
        // Tampered code under the destination, enforce mode: nothing
        // written, the registers unchanged; the instruction faults again
        // and the process dies by SIGSEGV.
        return Some(RepDone {
            after: s.regs,
            next_rip: None,
        });
    }
    let p = protection();
    if !p.open_range_for_handler(dlo, dhi) {
        // A partial opening (a page unmapped meanwhile) is undone.
        p.seal_range(dlo, dhi);
        crate::attest::rep_abandoned(dlo, dhi);
        return None;
    }
    // Restored, not cleared: a program handler chained from a fault inside
    // this copy may run an emulation of its own.
    let before = WRITING.with(|w| w.replace((dlo, dhi)));
    write_rep(insn.op, insn.size, &plan, s.rax);
    WRITING.with(|w| w.set(before));
    p.seal_range(dlo, dhi);
    crate::attest::rep_end(dlo, dhi, s.rip);
    let bytes = plan.dst_hi - plan.dst_lo;
    counters::bump(&COUNTERS.opens);
    counters::bump(&COUNTERS.rep_emulations);
    counters::add(&COUNTERS.rep_bytes, bytes);
    Some(RepDone {
        after: plan.after,
        next_rip: plan.done.then_some(s.rip + insn.len),
    })
}

/// The writes themselves, in the trusted section. Every store is made by
/// a `rep stos`/`rep movs` here, not by libc's memset or memmove (a call
/// would be made as a tail jump, and a fault inside it would then name a
/// frame outside the section).
#[inline(never)]
#[link_section = "jitguard_rep_text"]
fn write_rep(op: StringOp, size: u64, plan: &x86::RepPlan, rax: u64) {
    let bytes = plan.dst_hi - plan.dst_lo;
    // SAFETY: the destination lies inside guarded regions (mapped, and
    // writable for this handler: PKRU open or pages made RW); every source
    // page was probed readable; sizes come from the plan. The direction
    // flag is clear on entry (the ABI) and cleared again after a backward
    // copy.
    unsafe {
        match (op, size) {
            (StringOp::Stos, 1) => core::arch::asm!(
                "rep stosb",
                inout("rdi") plan.dst_lo => _, inout("rcx") bytes => _, in("rax") rax,
                options(nostack, preserves_flags)
            ),
            (StringOp::Stos, 2) => core::arch::asm!(
                "rep stosw",
                inout("rdi") plan.dst_lo => _, inout("rcx") bytes / 2 => _, in("rax") rax,
                options(nostack, preserves_flags)
            ),
            (StringOp::Stos, 4) => core::arch::asm!(
                "rep stosd",
                inout("rdi") plan.dst_lo => _, inout("rcx") bytes / 4 => _, in("rax") rax,
                options(nostack, preserves_flags)
            ),
            (StringOp::Stos, _) => core::arch::asm!(
                "rep stosq",
                inout("rdi") plan.dst_lo => _, inout("rcx") bytes / 8 => _, in("rax") rax,
                options(nostack, preserves_flags)
            ),
            // A destination above an overlapping source is copied from
            // the top down, as memmove would.
            (StringOp::Movs, _) if plan.dst_lo > plan.src_lo && plan.dst_lo < plan.src_hi => {
                core::arch::asm!(
                    "std",
                    "rep movsb",
                    "cld",
                    inout("rsi") plan.src_hi - 1 => _, inout("rdi") plan.dst_hi - 1 => _,
                    inout("rcx") bytes => _,
                    options(nostack)
                )
            }
            (StringOp::Movs, _) => core::arch::asm!(
                "rep movsb",
                inout("rsi") plan.src_lo => _, inout("rdi") plan.dst_lo => _,
                inout("rcx") bytes => _,
                options(nostack, preserves_flags)
            ),
        }
    }
}
