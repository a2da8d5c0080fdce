//! The walk from a faulting instruction outwards: frame by frame through
//! the modules' DWARF unwind tables, reading the stack through checked
//! copies. It names the deciding frame of a write (the first frame outside
//! the shared routine libraries), finds where a call window ends, and
//! looks above the writer for a vouching function.

use super::view::View;
use crate::sys;
use jg::modules::{Module, ModuleTable};
use jg::profile::Allowed;
use jg::unwind::{self, Memory, Regs};
use jg::writer::WriterPolicy;
use libc::c_int;

/// How deep a walk goes: the decision stops at the first frame outside the
/// shared libraries; a report shows this many.
pub const MAX_FRAMES: usize = 8;

/// How far above the writer a vouching function is looked for: an
/// exported entry point sits a few frames above the stripped code that
/// writes (PCRE2: one to three).
const VOUCH_DEPTH: usize = 24;

/// Bytes of stack fetched per system call: a walk reads a few slots of
/// each frame, upwards.
const STACK_BLOCK: usize = 512;

/// The unwinder's reads: module data straight from memory, the stack
/// through a checked copy, a block at a time.
struct Mem<'a> {
    table: &'a ModuleTable,
    pid: u32,
    /// The interrupted context's stack pointer: slots from here to the top
    /// of this thread's stack are read directly (see `crate::stack`).
    sp: u64,
    block: core::cell::RefCell<StackBlock>,
}

struct StackBlock {
    base: u64,
    len: usize,
    bytes: [u8; STACK_BLOCK],
}

impl<'a> Mem<'a> {
    fn new(table: &'a ModuleTable, sp: u64) -> Mem<'a> {
        Mem {
            table,
            pid: sys::pid(),
            sp,
            block: core::cell::RefCell::new(StackBlock {
                base: 0,
                len: 0,
                bytes: [0; STACK_BLOCK],
            }),
        }
    }
}

impl Memory for Mem<'_> {
    fn data(&self, addr: u64) -> Option<&[u8]> {
        let (lo, hi, m) = self.table.data_module(addr)?;
        // A module dlopened later and unloaded behind jitguard's back
        // (libc's own dlclose of a dependency or a gconv module) leaves a
        // stale entry: check the segment is still mapped before reading it
        // directly. Modules there when the view was first built are never
        // unloaded.
        let live = m.permanent || (sys::readable(lo) && sys::readable(addr));
        if !live {
            return None;
        }
        // SAFETY: [addr, hi) lies inside a readable file-backed segment of
        // a loaded module, from its program headers, mapped a moment ago;
        // dlclose through the hook drops a module from the view first.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, (hi - addr) as usize) })
    }

    fn stack_u64(&self, addr: u64) -> Option<u64> {
        if crate::stack::readable_directly(self.sp, addr, 8) {
            // SAFETY: [addr, addr + 8) lies between the interrupted stack
            // pointer and the top of this thread's own stack: mapped and
            // readable memory the thread runs on.
            return Some(unsafe { (addr as *const u64).read_unaligned() });
        }
        let Ok(mut b) = self.block.try_borrow_mut() else {
            return sys::read_u64_as(self.pid, addr);
        };
        let hit = |b: &StackBlock| {
            let off = addr.checked_sub(b.base)? as usize;
            let word = b.bytes.get(off..off.checked_add(8)?.min(b.len))?;
            Some(u64::from_le_bytes(word.try_into().ok()?))
        };
        if let Some(v) = hit(&b) {
            return Some(v);
        }
        let b = &mut *b;
        b.base = addr;
        b.len = sys::read_prefix_as(self.pid, addr, &mut b.bytes);
        hit(b)
    }
}

/// The range of the function holding `addr` in module `m`, by its FDE
/// (profile `function` entries, resolved outside any handler).
pub fn function_range(table: &ModuleTable, m: &Module, addr: u64) -> Option<(u64, u64)> {
    unwind::function_range(&Mem::new(table, u64::MAX), m.eh_frame_hdr?, addr)
}

/// libc's REG_* order -> DWARF x86-64 numbering.
const DWARF_OF_GREG: [(c_int, usize); 17] = [
    (libc::REG_RAX, 0),
    (libc::REG_RDX, 1),
    (libc::REG_RCX, 2),
    (libc::REG_RBX, 3),
    (libc::REG_RSI, 4),
    (libc::REG_RDI, 5),
    (libc::REG_RBP, 6),
    (libc::REG_RSP, 7),
    (libc::REG_R8, 8),
    (libc::REG_R9, 9),
    (libc::REG_R10, 10),
    (libc::REG_R11, 11),
    (libc::REG_R12, 12),
    (libc::REG_R13, 13),
    (libc::REG_R14, 14),
    (libc::REG_R15, 15),
    (libc::REG_RIP, unwind::RA),
];

/// The interrupted frame's registers in DWARF numbering.
pub fn regs_from(gregs: &[i64; crate::sys::NGREG]) -> Regs {
    let mut r = Regs::new(0, 0, 0);
    for (g, d) in DWARF_OF_GREG {
        r.set(d, gregs[g as usize] as u64);
    }
    r
}

/// What a walk found.
pub struct Walk {
    /// `frames[0]` is the writer, the rest return addresses.
    pub frames: [u64; MAX_FRAMES],
    pub n: usize,
    /// Index of the deciding frame (None: the walk could not leave the
    /// shared libraries, so the writer is unnamed), and its registers.
    pub decider: Option<usize>,
    pub decider_regs: Option<Regs>,
}

/// One step outwards; a frame whose return was redirected to the reseal
/// trampoline returns, really, where the window says.
fn step(
    mem: &Mem<'_>,
    view: &View,
    regs: &Regs,
    first: bool,
    call_ret: Option<u64>,
) -> Option<Regs> {
    let hdr = view.table.find(regs.ip())?.eh_frame_hdr?;
    let mut next = unwind::step(mem, hdr, regs, first)?;
    if let Some(ret) = call_ret.filter(|_| next.ip() == crate::window::trampoline_address()) {
        next.set(unwind::RA, ret);
    }
    Some(next)
}

/// The frames from the faulting instruction outwards. With
/// `until_decider`, stops at the first frame outside the shared libraries.
pub fn walk(view: &View, regs: Regs, until_decider: bool, call_ret: Option<u64>) -> Walk {
    walk_frames(view, regs, true, until_decider, call_ret)
}

/// How many of jitguard's own frames a hook's walk steps out of.
const MAX_OWN_FRAMES: usize = 16;

/// The walk of a program's call into one of jitguard's hooks: `here` are
/// the registers of a jitguard frame (`gate::caller_walk`), stepped out of
/// libjitguard.so's own frames; the walk then goes on as `walk` does from
/// the first frame outside it, a return address (its call site names the
/// caller, as a faulting instruction names a store's writer).
pub fn walk_from_hook(view: &View, here: Regs, until_decider: bool) -> Option<Walk> {
    let call_ret = crate::window::current().call_end().map(|e| e.ret);
    let own: *const Module = view
        .table
        .find(walk_from_hook as *const () as usize as u64)?;
    let mem = Mem::new(&view.table, here.get(unwind::RSP)?);
    let (mut regs, mut first) = (here, true);
    for _ in 0..MAX_OWN_FRAMES {
        if !view
            .table
            .find(regs.ip())
            .is_some_and(|m| core::ptr::eq(m, own))
        {
            return Some(walk_frames(view, regs, first, until_decider, call_ret));
        }
        regs = step(&mem, view, &regs, first, call_ret)?;
        first = false;
    }
    None
}

fn walk_frames(
    view: &View,
    regs: Regs,
    first: bool,
    until_decider: bool,
    call_ret: Option<u64>,
) -> Walk {
    let mem = Mem::new(&view.table, regs.get(unwind::RSP).unwrap_or(u64::MAX));
    let mut w = Walk {
        frames: [0; MAX_FRAMES],
        n: 0,
        decider: None,
        decider_regs: None,
    };
    let mut regs = regs;
    loop {
        w.frames[w.n] = regs.ip();
        w.n += 1;
        if w.decider.is_none() && !view.table.find(regs.ip()).is_some_and(Module::is_shared) {
            w.decider = Some(w.n - 1);
            w.decider_regs = Some(regs);
            if until_decider {
                break;
            }
        }
        if w.n == MAX_FRAMES {
            break;
        }
        match step(&mem, view, &regs, first && w.n == 1, call_ret) {
            Some(next) => regs = next,
            None => break,
        }
    }
    w
}

/// Whether a function the profile's `during` entries name runs at or
/// above the deciding frame `from` (`first`: it is the interrupted frame).
pub fn vouched(
    view: &View,
    allowed: &Allowed,
    from: Regs,
    first: bool,
    call_ret: Option<u64>,
) -> bool {
    if !allowed.has_vouchers() {
        return false;
    }
    let mem = Mem::new(&view.table, from.get(unwind::RSP).unwrap_or(u64::MAX));
    let (mut regs, mut first) = (from, first);
    for _ in 0..VOUCH_DEPTH {
        // A return address names the call inside its function: the byte
        // before it (a call may be a function's last instruction).
        let at = if first {
            regs.ip()
        } else {
            regs.ip().wrapping_sub(1)
        };
        if allowed.vouches(at) {
            return true;
        }
        match step(&mem, view, &regs, first, call_ret) {
            Some(next) => (regs, first) = (next, false),
            None => return false,
        }
    }
    false
}

/// Where a call window for the trusted writer at frame `regs` ends: the
/// stack slot holding the return address of the *outermost* trusted frame
/// from `regs` up (a trusted writer called by another trusted function,
/// like WAMR's `alloc_hmu` under `gc_alloc_vo`, is one writer), and that
/// address. `first` marks the interrupted frame itself. None when the
/// tables cannot say, or the slot does not hold what they say (then no
/// call window: the write gets one step).
pub fn call_window_slot(
    view: &View,
    policy: &WriterPolicy,
    regs: Regs,
    first: bool,
) -> Option<jg::window::CallEnd> {
    let allowed = match policy {
        WriterPolicy::Profile(a) => Some(a),
        WriterPolicy::AllowAll => None,
    };
    let mem = Mem::new(&view.table, regs.get(unwind::RSP).unwrap_or(u64::MAX));
    let (mut regs, mut first) = (regs, first);
    for depth in 0..=MAX_FRAMES {
        let caller = step(&mem, view, &regs, first, None)?;
        // A return address names the call inside the caller: the caller is
        // trusted if that call site is.
        let trusted = depth < MAX_FRAMES
            && !view.table.in_shared(caller.ip())
            && allowed.is_some_and(|a| a.contains(caller.ip()));
        if trusted {
            (regs, first) = (caller, false);
            continue;
        }
        let slot = caller.get(unwind::RSP)?.checked_sub(8)?;
        let ret = caller.ip();
        // The slot the window will redirect must be on this thread's own
        // stack, where it is known.
        if crate::stack::bounds().is_some() && !crate::stack::readable_directly(mem.sp, slot, 8) {
            return None;
        }
        let held = mem.stack_u64(slot);
        if held != Some(ret) || !follows_a_call(view, ret) {
            crate::log!(
                Debug,
                "no call window: slot {slot:#x} holds {:#x}, not a return address",
                held.unwrap_or(0)
            );
            return None;
        }
        return Some(jg::window::CallEnd { slot, ret });
    }
    None
}

/// How many frames out of jitguard's own hook the creator of a mapping,
/// and the functions it runs beneath, are looked for.
const CREATOR_DEPTH: usize = 16;

/// The program's call into the interposed mapping function being run: the
/// first frame outside jitguard and the shared routine libraries (a
/// region's creator, see `jg::coverage`), then the return addresses above
/// it.
pub struct Creator {
    pub frames: [u64; CREATOR_DEPTH],
    pub n: usize,
}

impl Creator {
    /// Where the call returns to; 0 when the walk could not say.
    pub fn at(&self) -> u64 {
        if self.n == 0 {
            0
        } else {
            self.frames[0]
        }
    }

    pub fn unknown() -> Creator {
        Creator {
            frames: [0; CREATOR_DEPTH],
            n: 0,
        }
    }
}

/// Names the creator of the mapping the calling hook is making. Walks
/// this thread's own live stack, outside any handler; called only for
/// calls that create W+X memory.
#[inline(never)]
pub fn creator(view: &View) -> Creator {
    let (ip, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers, touches nothing else.
    unsafe {
        core::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            ip = out(reg) ip,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags),
        );
    }
    let mut c = Creator::unknown();
    let own = |a: u64| view.table.find(a).map(|m| m as *const Module);
    let Some(me) = own(ip) else { return c };
    let mem = Mem::new(&view.table, sp);
    let mut regs = Regs::new(ip, sp, bp);
    for depth in 0..2 * CREATOR_DEPTH {
        let Some(next) = step(&mem, view, &regs, depth == 0, None) else {
            break;
        };
        regs = next;
        let ip = regs.ip();
        if c.n > 0 || (own(ip) != Some(me) && !view.table.in_shared(ip)) {
            c.frames[c.n] = ip;
            c.n += 1;
            if c.n == CREATOR_DEPTH {
                break;
            }
        }
    }
    c
}

/// The longest call instruction whose end a return address marks.
const MAX_CALL_LEN: u64 = 7;

/// Whether the code just before `ret` is a call instruction, as it is for
/// every real return address (`call rel32`, or `call` through a register
/// or memory operand): a check that the slot the tables named is one.
fn follows_a_call(view: &View, ret: u64) -> bool {
    let Some(m) = view.table.find(ret) else {
        return false;
    };
    if !m
        .exec
        .iter()
        .any(|&(lo, hi)| lo + MAX_CALL_LEN <= ret && ret <= hi)
    {
        return false;
    }
    let mut b = [0u8; MAX_CALL_LEN as usize];
    // SAFETY: [ret-7, ret) is inside an executable (hence readable) segment
    // of a module in the current view.
    unsafe {
        core::ptr::copy_nonoverlapping((ret - MAX_CALL_LEN) as *const u8, b.as_mut_ptr(), b.len())
    };
    jg::x86::ends_a_call(&b)
}
