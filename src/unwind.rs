//! One step of DWARF call-frame unwinding, for naming a writer's callers.
//!
//! When a write faults inside a shared routine (libc's `memcpy`, a pthread
//! mutex operation), the writer that matters is the caller. Frame pointers
//! cannot find it (libc and most JITs are built without them), so this
//! evaluates the module's `.eh_frame` call-frame information, found through
//! `.eh_frame_hdr`'s sorted table, the same data a C++ exception uses.
//!
//! The tables are parsed and their instructions run by `gimli`, built with
//! `read-core` only: without its `alloc` feature gimli cannot allocate, and
//! the unwind context keeps its rows in fixed-size arrays on the stack
//! (`OnStack`). This runs inside the fault handler: no allocation, no locks,
//! and every read goes through `Memory`, which the caller bounds to the
//! modules' mapped data and to checked stack reads. Anything unexpected (an
//! expression rule, more register rules than `MAX_RULES`, a parse error)
//! ends the walk: an unnamed caller is an untrusted one.

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, EndianSlice, LittleEndian, Register, RegisterRule,
    UnwindContext, UnwindContextStorage, UnwindSection, UnwindTableRow,
};

/// Reads for the unwinder.
pub trait Memory {
    /// Static module data from `addr` to the end of its mapping, or None
    /// when `addr` is not inside a module's readable data.
    fn data(&self, addr: u64) -> Option<&[u8]>;
    /// One word of the interrupted thread's stack, if readable.
    fn stack_u64(&self, addr: u64) -> Option<u64>;
}

/// DWARF register numbers on x86-64.
pub const RBX: usize = gimli::X86_64::RBX.0 as usize;
pub const RBP: usize = gimli::X86_64::RBP.0 as usize;
pub const RSP: usize = gimli::X86_64::RSP.0 as usize;
/// The return-address column (the caller's rip).
pub const RA: usize = gimli::X86_64::RA.0 as usize;
const NREGS: usize = RA + 1;
/// Registers a callee must preserve: unchanged unless the CFI says saved.
const CALLEE_SAVED: [usize; 6] = [
    RBX,
    RBP,
    gimli::X86_64::R12.0 as usize,
    gimli::X86_64::R13.0 as usize,
    gimli::X86_64::R14.0 as usize,
    gimli::X86_64::R15.0 as usize,
];
/// Pointer size of the tables' encoded addresses.
const ADDRESS_SIZE: u8 = 8;

/// Register values of one frame, with a mask of those known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    pub r: [u64; NREGS],
    pub known: u32,
}

impl Regs {
    /// A frame with only `rip`, `rsp` and `rbp` known.
    pub fn new(ip: u64, sp: u64, bp: u64) -> Regs {
        let mut r = Regs {
            r: [0; NREGS],
            known: 0,
        };
        r.set(RA, ip);
        r.set(RSP, sp);
        r.set(RBP, bp);
        r
    }

    pub fn set(&mut self, reg: usize, v: u64) {
        self.r[reg] = v;
        self.known |= 1 << reg;
    }

    pub fn get(&self, reg: usize) -> Option<u64> {
        (reg < NREGS && self.known & (1 << reg) != 0).then(|| self.r[reg])
    }

    pub fn ip(&self) -> u64 {
        self.r[RA]
    }
}

/// Register rules one row holds: the registers a frame mentions, not
/// register numbers (a compiler's rows name the return address and at most
/// the six callee-saved registers).
const MAX_RULES: usize = 24;
/// Nesting of remember_state (compilers use one or two levels), plus the
/// row being built.
const MAX_REMEMBERED: usize = 4;

/// gimli's unwind context in fixed-size arrays: nothing on the heap.
struct OnStack;

impl UnwindContextStorage<usize> for OnStack {
    type Rules = [(Register, RegisterRule<usize>); MAX_RULES];
    type Stack = [UnwindTableRow<usize, Self>; MAX_REMEMBERED + 1];
}

type Slice<'a> = EndianSlice<'a, LittleEndian>;

/// A module's unwind tables: the parsed `.eh_frame_hdr` and the
/// `.eh_frame` it points to, both read in place.
struct Tables<'a> {
    hdr: gimli::ParsedEhFrameHdr<Slice<'a>>,
    eh_frame: EhFrame<Slice<'a>>,
    bases: BaseAddresses,
}

impl<'a> Tables<'a> {
    fn at(mem: &'a impl Memory, hdr_addr: u64) -> Option<Tables<'a>> {
        let bases = BaseAddresses::default().set_eh_frame_hdr(hdr_addr);
        let hdr = EhFrameHdr::new(mem.data(hdr_addr)?, LittleEndian)
            .parse(&bases, ADDRESS_SIZE)
            .ok()?;
        let eh_addr = hdr.eh_frame_ptr().direct().ok()?;
        let mut eh_frame = EhFrame::new(mem.data(eh_addr)?, LittleEndian);
        eh_frame.set_address_size(ADDRESS_SIZE);
        let bases = bases.set_eh_frame(eh_addr);
        Some(Tables {
            hdr,
            eh_frame,
            bases,
        })
    }

    /// The FDE covering `pc`, by binary search of the header's table.
    fn fde(&self, pc: u64) -> Option<gimli::FrameDescriptionEntry<Slice<'a>>> {
        self.hdr
            .table()?
            .fde_for_address(&self.eh_frame, &self.bases, pc, EhFrame::cie_from_offset)
            .ok()
    }
}

/// The extent [start, end) of the function whose FDE covers `pc`: how a
/// profile names a whole function of a module that has no symbols.
pub fn function_range(mem: &impl Memory, hdr: u64, pc: u64) -> Option<(u64, u64)> {
    let fde = Tables::at(mem, hdr)?.fde(pc)?;
    let start = fde.initial_address();
    let end = start.checked_add(fde.len())?;
    (start <= pc && pc < end).then_some((start, end))
}

/// The caller's registers, given a frame's. `first` marks the interrupted
/// frame itself, whose `ip` is the faulting instruction; a caller's `ip` is
/// a return address, looked up one byte earlier (inside the call). Returns
/// None at the end of the stack, where the tables cannot say, and where
/// the stack is corrupt: the caller's frame must lie above this one.
pub fn step(mem: &impl Memory, eh_frame_hdr: u64, regs: &Regs, first: bool) -> Option<Regs> {
    let pc = if first {
        regs.ip()
    } else {
        regs.ip().checked_sub(1)?
    };
    let tables = Tables::at(mem, eh_frame_hdr)?;
    let fde = tables.fde(pc)?;
    let mut ctx = UnwindContext::<usize, OnStack>::new_in();
    let row = fde
        .unwind_info_for_address(&tables.eh_frame, &tables.bases, &mut ctx, pc)
        .ok()?;
    let cfa = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => regs
            .get(usize::from(register.0))?
            .wrapping_add(offset as u64),
        // Not evaluated (a PLT entry's rule): the walk ends there.
        CfaRule::Expression(_) => return None,
    };
    // The canonical frame address is the stack pointer before the call
    // into this frame: a frame at or below the current one is a corrupt
    // (or hostile) stack, and following it could loop.
    if regs.get(RSP).is_some_and(|sp| cfa <= sp) {
        return None;
    }
    let ra_column = fde.cie().return_address_register();
    let mut out = Regs {
        r: [0; NREGS],
        known: 0,
    };
    for reg in 0..NREGS {
        let column = if reg == RA {
            ra_column
        } else {
            Register(reg as u16)
        };
        match row.register(column) {
            RegisterRule::Offset(n) => {
                if let Some(v) = mem.stack_u64(cfa.wrapping_add(n as u64)) {
                    out.set(reg, v);
                }
            }
            RegisterRule::ValOffset(n) => out.set(reg, cfa.wrapping_add(n as u64)),
            // gimli does not tell "not described" from "undefined": both
            // keep a callee-saved register's value, as the ABI says.
            RegisterRule::SameValue | RegisterRule::Undefined if CALLEE_SAVED.contains(&reg) => {
                if let Some(v) = regs.get(reg) {
                    out.set(reg, v);
                }
            }
            _ => {}
        }
    }
    out.set(RSP, cfa);
    let ip = out.get(RA).filter(|&ip| ip != 0)?;
    out.set(RA, ip);
    Some(out)
}

#[cfg(test)]
#[path = "unwind_tests.rs"]
mod tests;
