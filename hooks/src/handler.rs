//! The fault and trap handlers: open one page for one emit, then reseal.
//!
//! One emit is one instruction. A write to a sealed guarded page faults
//! (SIGSEGV: SEGV_PKUERR on one of jitguard's keys, or SEGV_ACCERR on a
//! guarded page under the mprotect backend). The writer policy decides; if
//! it allows, the page is opened for the faulting thread only (pkey: its
//! key's write bit in the PKRU saved in the signal frame; mprotect: the
//! page becomes RW without X) and the trap flag is set, so the CPU runs
//! exactly that instruction and raises SIGTRAP, where the window is sealed
//! again. A store that straddles two pages faults again on the second page
//! inside the same window; both are opened and both resealed at the trap.
//! A REP string write is one emit completed by the handler in one go (see
//! jg::x86): the part inside guarded memory is written here, the registers
//! advanced, and no trap is needed.
//!
//! Nothing here allocates or takes a lock: state is atomics, a thread-local
//! `Cell` and the lock-free region snapshot.

use crate::guard;
use crate::pkru;
use crate::signals;
use crate::state::{self, globals, ready, COUNTERS};
use crate::sys;
use crate::writers;
use core::cell::Cell;
use core::sync::atomic::Ordering::Relaxed;
use jg::config::{Backend, Mode};
use jg::pkru::KeySet;
use jg::writer::{Decision, WriteSite, WriterPolicy};
use jg::x86::{self, StringOp, StringRegs};
use libc::{c_int, c_void, siginfo_t};

const SEGV_ACCERR: c_int = 2;
const SEGV_PKUERR: c_int = 4;
const TRAP_TRACE: c_int = 2;
const EFLAGS_TF: i64 = 1 << 8;
const EFLAGS_DF: i64 = 1 << 10;
/// Page-fault error code bits (REG_ERR).
const PF_WRITE: i64 = 1 << 1;
const PF_INSTR: i64 = 1 << 4;
const MAX_OPEN_PAGES: usize = 8;

/// Signals that stay deliverable during the one stepped instruction: the
/// synchronous ones (the kernel kills a process whose fault signal is
/// blocked) and those that cannot be blocked.
const SYNC_SIGNALS: u64 = bit(libc::SIGSEGV)
    | bit(libc::SIGBUS)
    | bit(libc::SIGTRAP)
    | bit(libc::SIGILL)
    | bit(libc::SIGFPE)
    | bit(libc::SIGKILL)
    | bit(libc::SIGSTOP);

const fn bit(sig: c_int) -> u64 {
    1 << (sig - 1)
}

/// The calling thread's open write window.
#[derive(Clone, Copy)]
struct Window {
    active: bool,
    tf_was_set: bool,
    keys: u16,
    n: usize,
    pages: [u64; MAX_OPEN_PAGES],
    /// The thread's signal mask before the window: asynchronous signals are
    /// blocked for the stepped instruction, so no other handler ever runs
    /// inside an open window, and restored at the reseal.
    saved_mask: u64,
    /// A call window (0: an instruction window): the stack slot whose
    /// return address now points at the reseal trampoline, and the return
    /// address it held.
    call_slot: u64,
    call_ret: u64,
}

impl Window {
    const CLOSED: Window = Window {
        active: false,
        tf_was_set: false,
        keys: 0,
        n: 0,
        pages: [0; MAX_OPEN_PAGES],
        saved_mask: 0,
        call_slot: 0,
        call_ret: 0,
    };

    fn is_call(&self) -> bool {
        self.active && self.call_slot != 0
    }
}

thread_local! {
    static WINDOW: Cell<Window> = const { Cell::new(Window::CLOSED) };
}

/// Register access in a signal frame.
struct Frame(*mut libc::ucontext_t);

impl Frame {
    fn reg(&self, r: c_int) -> i64 {
        // SAFETY: the kernel's ucontext for this delivery, valid until return.
        unsafe { (*self.0).uc_mcontext.gregs[r as usize] }
    }

    fn set_reg(&self, r: c_int, v: i64) {
        // SAFETY: as above; the frame is ours to edit until sigreturn.
        unsafe { (*self.0).uc_mcontext.gregs[r as usize] = v }
    }

    fn gregs(&self) -> &[i64; 23] {
        // SAFETY: as above; the registers of the interrupted context.
        unsafe { &(*self.0).uc_mcontext.gregs }
    }

    /// Whether the interrupted code ran on an alternate signal stack.
    fn on_alt_stack(&self) -> bool {
        // SAFETY: as above; uc_stack is part of the kernel's frame.
        unsafe { (*self.0).uc_stack.ss_flags & libc::SS_ONSTACK != 0 }
    }

    fn rip(&self) -> u64 {
        self.reg(libc::REG_RIP) as u64
    }

    /// The mask the thread resumes with (the kernel's 64-bit sigset is the
    /// first word of glibc's sigset_t).
    fn sigmask(&self) -> u64 {
        // SAFETY: uc_sigmask is at least 8 bytes, inside the frame.
        unsafe {
            (&raw const (*self.0).uc_sigmask)
                .cast::<u64>()
                .read_unaligned()
        }
    }

    fn set_sigmask(&self, m: u64) {
        // SAFETY: as above; sigreturn installs this mask.
        unsafe {
            (&raw mut (*self.0).uc_sigmask)
                .cast::<u64>()
                .write_unaligned(m)
        }
    }
}

/// The program's protection of the guarded region holding `addr`, if any.
fn guarded_prot(addr: u64) -> Option<c_int> {
    state::with_snapshot(|s| s.and_then(|s| s.find(addr)).map(|r| r.prot))
}

fn region_prot(addr: u64) -> c_int {
    guarded_prot(addr).unwrap_or(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC)
}

/// SIGSEGV: jitguard's own write faults, or the program's.
pub extern "C" fn on_segv(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    dispatch(sig, info, ctx, || handle_segv(info, ctx));
}

/// SIGTRAP: the end of one emit, or the program's.
pub extern "C" fn on_trap(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    dispatch(sig, info, ctx, || {
        let w = WINDOW.with(Cell::get);
        // SAFETY: kernel-provided siginfo.
        let code = unsafe { (*info).si_code };
        if !(w.active && !w.is_call() && code == TRAP_TRACE) {
            return false;
        }
        reseal(&w, &Frame(ctx as *mut libc::ucontext_t), ctx);
        WINDOW.with(|c| c.set(Window::CLOSED));
        true
    });
}

/// Runs jitguard's part of a handler with errno saved and its time
/// counted; a signal that is not jitguard's goes on to the program.
fn dispatch(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void, ours: impl FnOnce() -> bool) {
    let saved = sys::errno();
    let t0 = sys::now_ns();
    if ready() && ours() {
        state::add(&COUNTERS.handler_ns, sys::now_ns().saturating_sub(t0));
        sys::set_errno(saved);
        return;
    }
    close_window_before_chaining(ctx);
    sys::set_errno(saved);
    signals::chain(sig, info, ctx);
}

/// A signal that is not jitguard's arrived while this thread's window is
/// open (the stepped instruction faulted on something else): seal the
/// window into this frame first (PKRU or page protection, trap flag, signal
/// mask), so the program's handler never runs with a page open, and a
/// handler that longjmps leaves nothing open behind. If the handler
/// returns, the instruction faults again and a fresh window opens.
fn close_window_before_chaining(ctx: *mut c_void) {
    if !ready() {
        return;
    }
    let w = WINDOW.with(Cell::get);
    // A call window stays: the program's handler interrupts the trusted
    // writer, which goes on writing after it returns (pkey: the kernel
    // runs the handler with jitguard's keys disabled anyway).
    if w.active && !w.is_call() {
        reseal(&w, &Frame(ctx as *mut libc::ucontext_t), ctx);
        WINDOW.with(|c| c.set(Window::CLOSED));
    }
}

fn reseal(w: &Window, f: &Frame, ctx: *mut c_void) {
    match globals().backend {
        Backend::Pkey => {
            if let Some(p) = pkru::frame_get(ctx) {
                pkru::frame_set(ctx, p.sealed(KeySet(w.keys)));
            }
        }
        _ => {
            for &page in &w.pages[..w.n] {
                let _ = sys::mprotect(page, 4096, guard::sealed_prot(region_prot(page)));
            }
            // Exposure: the pages of this window (writable by every thread).
            state::add(&COUNTERS.exposed_pages_sum, w.n as u64);
        }
    }
    if !w.tf_was_set {
        f.set_reg(libc::REG_EFL, f.reg(libc::REG_EFL) & !EFLAGS_TF);
    }
    f.set_sigmask(w.saved_mask);
    state::bump(&COUNTERS.reseals);
}

fn handle_segv(info: *mut siginfo_t, ctx: *mut c_void) -> bool {
    // SAFETY: kernel-provided siginfo for a SIGSEGV: si_addr is valid, and
    // for SEGV_PKUERR the key follows at offset 32 (after si_addr_lsb).
    let (code, addr, pkey) = unsafe {
        let code = (*info).si_code;
        let addr = (*info).si_addr() as u64;
        let pkey = (info as *const u8).add(32).cast::<u32>().read_unaligned();
        (code, addr, pkey)
    };
    let g = globals();
    let f = Frame(ctx as *mut libc::ucontext_t);
    close_stale_call_window(&f, ctx);
    match (g.backend, &g.keys) {
        (Backend::Pkey, Some(keys)) if code == SEGV_PKUERR && keys.owns(pkey) => {
            pkey_fault(&f, ctx, addr, pkey)
        }
        (Backend::Mprotect, _) if code == SEGV_ACCERR => {
            let in_region = guarded_prot(addr).is_some();
            in_region && mprotect_fault(&f, addr)
        }
        _ => false,
    }
}

/// The real return address behind this thread's reseal trampoline, while
/// a call window is open.
fn call_window_return() -> Option<u64> {
    let w = WINDOW.with(Cell::get);
    w.is_call().then_some(w.call_ret)
}

/// What the writer policy said, and where a call window could end.
struct Verdict {
    allowed: bool,
    /// The trusted writer's return-address slot and its value, when this
    /// write may open a call window.
    call: Option<(u64, u64)>,
}

/// Consults the writer policy. `allowed: false` means the write is refused
/// and the process will die by SIGSEGV when the handler returns.
fn writer_allows(f: &Frame, addr: u64, key: Option<u32>) -> Verdict {
    let g = globals();
    state::bump(&COUNTERS.write_faults);
    let mut frames = [0u64; writers::MAX_FRAMES];
    frames[0] = f.rip();
    let view = writers::view();
    let mut decider_regs = None;
    // The walk out of shared routines is only needed when a profile judges
    // the writer or learn mode records it.
    let (decider, index) = match view {
        Some(v) if g.config.mode == Mode::Learn || v.policy != WriterPolicy::AllowAll => {
            let regs = writers::regs_from(f.gregs());
            let (_, d) = writers::walk(
                v,
                regs,
                &mut frames,
                true,
                &mut decider_regs,
                call_window_return(),
            );
            (d.map(|i| frames[i]), d)
        }
        _ => (Some(frames[0]), Some(0)),
    };
    let site = WriteSite {
        ip: frames[0],
        addr,
        tid: sys::gettid(),
        decider,
    };
    if decider.is_none() {
        state::bump(&COUNTERS.unnamed_writers);
    }
    crate::log!(
        Trace,
        "write fault at {:#x} ip {:#x} decider {:#x} thread {}",
        site.addr,
        site.ip,
        decider.unwrap_or(0),
        site.tid
    );
    let policy = view.map_or(&WriterPolicy::AllowAll, |v| &v.policy);
    let allowed = match policy.decide(&site, g.config.mode) {
        Decision::Open => true,
        Decision::OpenLearned => {
            if let Some(d) = decider {
                writers::learn(d, site.ip);
            }
            true
        }
        Decision::OpenAudited => {
            state::bump(&COUNTERS.audited);
            report("audited write", f, &site, key);
            return Verdict {
                allowed: true,
                call: None,
            };
        }
        Decision::Deny => {
            state::bump(&COUNTERS.denials);
            report("denied write", f, &site, key);
            signals::die_by_segv_on_return();
            false
        }
    };
    // Only a writer a profile trusts gets a window longer than one
    // instruction: its own call, ended by its return.
    let call = match (view, decider_regs) {
        (Some(v), Some(r))
            if allowed
                && !WINDOW.with(Cell::get).is_call()
                && g.config.mode != Mode::Learn
                && g.config.window == jg::config::Window::Call
                && v.policy != WriterPolicy::AllowAll =>
        {
            writers::call_window_slot(v, r, index == Some(0))
        }
        _ => None,
    };
    Verdict { allowed, call }
}

/// One report line: what was written, by whom, through which callers.
fn report(what: &str, f: &Frame, site: &WriteSite, key: Option<u32>) {
    use core::fmt::Write;
    let mut b = jg::report::StackBuf::<1280>::new();
    let page = site.addr & !4095;
    let _ = write!(b, "jitguard: {what} at {:#x} (page {page:#x}", site.addr);
    if let Some(k) = key {
        let _ = write!(b, ", key {k}");
    }
    let _ = write!(b, ") by thread {}", site.tid);
    match writers::view() {
        Some(v) => {
            let mut frames = [0u64; writers::MAX_FRAMES];
            let (n, _) = writers::walk(
                v,
                writers::regs_from(f.gregs()),
                &mut frames,
                false,
                &mut None,
                call_window_return(),
            );
            let _ = write!(b, ": writer {}", v.table.place(frames[0]));
            if n > 1 {
                let _ = write!(b, "; callers:");
                for (i, &ip) in frames[1..n].iter().enumerate() {
                    let _ = write!(
                        b,
                        "{} {}",
                        if i == 0 { "" } else { " <-" },
                        v.table.place(ip)
                    );
                }
            }
            if site.decider.is_none() {
                let _ = write!(b, "; no caller outside the shared libraries could be found");
            }
            let _ = write!(b, "; writer profile: {}", v.source);
        }
        None => {
            let _ = write!(b, ": writer ip {:#x}", site.ip);
        }
    }
    let _ = b.write_str("\n");
    crate::log::report(b.as_bytes());
}

fn pkey_fault(f: &Frame, ctx: *mut c_void, addr: u64, pkey: u32) -> bool {
    let g = globals();
    let Some(keys) = &g.keys else { return false };
    let Some(frame_pkru) = pkru::frame_get(ctx) else {
        crate::log!(Error, "no PKRU in the signal frame; cannot open {addr:#x}");
        return false;
    };
    // The handler runs with the kernel's PKRU (access disabled for keys
    // 1..15): allow it to read and write guarded memory for its own work.
    pkru::write(pkru::read().opened(g.key_set));
    // A thread that never got jitguard's seal (created before start-up)
    // has access disabled on our keys: seal it now, reads allowed. Keys
    // this thread's open window holds stay open.
    let w = WINDOW.with(Cell::get);
    let is_write = f.reg(libc::REG_ERR) & PF_WRITE != 0;
    // A read fault comes from a context running with the kernel's PKRU: a
    // signal handler (or an unsealed thread). A call window's keys belong
    // to the writer it interrupted, not to that handler.
    let open_keys = match (w.active, w.is_call(), is_write) {
        (true, false, _) | (true, true, true) => w.keys,
        _ => 0,
    };
    let base = frame_pkru.sealed(KeySet(g.key_set.0 & !open_keys));
    if !is_write {
        state::bump(&COUNTERS.seal_fixups);
        pkru::frame_set(ctx, base);
        return true;
    }
    let verdict = writer_allows(f, addr, Some(pkey));
    if !verdict.allowed {
        return true;
    }
    let page = addr & !4095;
    let mut key = pkey;
    let code_key = keys.key_for_addr(page);
    if pkey == keys.reserve_key()
        && code_key != pkey
        && guard::key_page(page, region_prot(page), code_key)
    {
        // First write: the page leaves the reserve key for its own.
        key = code_key;
        state::bump(&COUNTERS.pages_by_key[key as usize]);
    }
    if try_rep_string(f, addr) {
        return true;
    }
    let w = WINDOW.with(Cell::get);
    if !w.active || (w.is_call() && w.keys & (1 << key) == 0) {
        // Exposure: the pages this thread can write while the window is
        // open, i.e. every page under each key the window opens.
        let exposed = if keys.reserve_key() == key {
            state::GUARDED_PAGES.load(Relaxed)
        } else {
            COUNTERS.pages_by_key[key as usize].load(Relaxed)
        };
        state::add(&COUNTERS.exposed_pages_sum, exposed);
    }
    open_for(f, &verdict, page, key);
    pkru::frame_set(ctx, base.opened(KeySet::single(key)));
    true
}

fn mprotect_fault(f: &Frame, addr: u64) -> bool {
    let err = f.reg(libc::REG_ERR);
    if err & PF_INSTR != 0 {
        let page = addr & !4095;
        let w = WINDOW.with(Cell::get);
        if w.active && w.pages[..w.n].contains(&page) {
            // This thread's own stepped instruction runs from the page it
            // opened without X: give the page X for the rest of the step.
            return sys::mprotect(
                page,
                4096,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            )
            .is_ok();
        }
        // Executing a page another thread holds open (RW, no X): seal it
        // again and retry. Waiting instead could deadlock a call window
        // whose writer waits for this thread; the writer's next store to
        // the page faults and opens it again.
        match guarded_prot(page) {
            Some(prot) => {
                let _ = sys::mprotect(page, 4096, guard::sealed_prot(prot));
            }
            None => sys::sched_yield(),
        }
        return true;
    }
    if err & PF_WRITE == 0 {
        return false;
    }
    let verdict = writer_allows(f, addr, None);
    if !verdict.allowed {
        return true;
    }
    if try_rep_string(f, addr) {
        return true;
    }
    let page = addr & !4095;
    // Opened without exec, unless the writing instruction's bytes (up to 15
    // from rip) lie on that very page.
    let rip = f.rip();
    let prot = if rip & !4095 == page || rip.wrapping_add(14) & !4095 == page {
        libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC
    } else {
        libc::PROT_READ | libc::PROT_WRITE
    };
    let w = WINDOW.with(Cell::get);
    if w.is_call() && w.n == MAX_OPEN_PAGES && !w.pages.contains(&page) {
        // A call window that has opened many pages: seal those first, so
        // the window's record stays complete.
        seal_pages(&w.pages[..w.n]);
        let mut emptied = w;
        emptied.n = 0;
        WINDOW.with(|c| c.set(emptied));
    }
    if sys::mprotect(page, 4096, prot).is_err() {
        return false;
    }
    open_for(f, &verdict, page, 0);
    true
}

/// Seals window pages again, those still guarded: a page unmapped (and
/// perhaps reused by other memory) during the window is left alone.
fn seal_pages(pages: &[u64]) {
    for &page in pages {
        if let Some(prot) = guarded_prot(page) {
            let _ = sys::mprotect(page, 4096, guard::sealed_prot(prot));
        }
    }
}

/// Opens `page` for this write: into the thread's call window if one is
/// open, as a new call window if the trusted writer's return can end it,
/// else for one instruction.
fn open_for(f: &Frame, verdict: &Verdict, page: u64, key: u32) {
    let w = WINDOW.with(Cell::get);
    if w.is_call() {
        let mut w = w;
        w.keys |= 1 << key;
        if !w.pages[..w.n].contains(&page) && w.n < MAX_OPEN_PAGES {
            w.pages[w.n] = page;
            w.n += 1;
            state::bump(&COUNTERS.pages_opened);
        }
        WINDOW.with(|c| c.set(w));
        return;
    }
    match verdict.call {
        Some((slot, ret)) if !w.active => {
            let mut w = Window {
                active: true,
                keys: 1 << key,
                call_slot: slot,
                call_ret: ret,
                saved_mask: f.sigmask(),
                ..Window::CLOSED
            };
            if globals().backend != Backend::Pkey {
                // Pages opened in the page table are open to every handler
                // that would run on this thread: hold asynchronous signals
                // until the writer returns (under pkey the kernel runs
                // handlers with jitguard's keys disabled anyway).
                f.set_sigmask(w.saved_mask | !SYNC_SIGNALS);
            }
            w.pages[0] = page;
            w.n = 1;
            WINDOW.with(|c| c.set(w));
            // SAFETY: `slot` is the writer's return-address slot on this
            // thread's stack, just read back holding `ret`; the thread is
            // stopped in this handler, and the trampoline restores `ret`.
            unsafe { (slot as *mut u64).write(crate::trampoline::address()) };
            state::bump(&COUNTERS.opens);
            state::bump(&COUNTERS.call_windows);
            if crate::log::enabled(jg::config::LogLevel::Trace) {
                if let Some(v) = writers::view() {
                    crate::log!(
                        Trace,
                        "call window: page {page:#x}, ends at return to {} (slot {slot:#x})",
                        v.table.place(ret)
                    );
                }
            }
            state::bump(&COUNTERS.pages_opened);
        }
        _ => open(f, page, key),
    }
}

/// Ends this thread's call window when its writer returns (called by the
/// trampoline, outside any handler): seals what it opened and gives the
/// return address back.
pub fn end_call_window() -> u64 {
    let w = WINDOW.with(Cell::get);
    WINDOW.with(|c| c.set(Window::CLOSED));
    if !w.is_call() {
        crate::log::emit(format_args!(
            "jitguard: internal error: reseal trampoline reached with no call window"
        ));
        // SAFETY: no return address to go back to; abort is always sound.
        unsafe { libc::abort() };
    }
    if globals().backend != Backend::Pkey {
        state::add(&COUNTERS.exposed_pages_sum, w.n as u64);
    }
    seal_call_window_here(&w);
    w.call_ret
}

/// Seals a call window from the thread's own ordinary code (not a signal
/// frame): its keys in PKRU, or its pages and the held signal mask.
fn seal_call_window_here(w: &Window) {
    match globals().backend {
        Backend::Pkey => pkru::write(pkru::read().sealed(globals().key_set)),
        _ => {
            seal_pages(&w.pages[..w.n]);
            sys::set_sigmask_word(w.saved_mask);
        }
    }
    state::bump(&COUNTERS.reseals);
}

/// Puts the writer's real return address back in its slot if the slot
/// still holds the trampoline's (a live frame then returns normally; a
/// dead one is unused stack).
fn give_back_return_address(w: &Window) {
    if sys::read_u64(w.call_slot) == Some(crate::trampoline::address()) {
        // SAFETY: the slot is in this thread's stack and was just read.
        unsafe { (w.call_slot as *mut u64).write(w.call_ret) };
    }
}

/// Closes this thread's call window from ordinary code (a longjmp is
/// about to leave the writer, or has left it): seals what it opened and
/// gives the writer's frame its return address back if it still runs.
pub fn close_call_window_now() {
    let w = WINDOW.with(Cell::get);
    if !w.is_call() {
        return;
    }
    WINDOW.with(|c| c.set(Window::CLOSED));
    seal_call_window_here(&w);
    give_back_return_address(&w);
}

/// A call window whose writer left without returning (a longjmp past it)
/// is closed at the thread's next fault from a shallower stack frame.
fn close_stale_call_window(f: &Frame, ctx: *mut c_void) {
    let w = WINDOW.with(Cell::get);
    if !w.is_call() {
        return;
    }
    // A handler on an alternate signal stack may sit anywhere relative to
    // the writer's stack: only a fault on the thread's own stack, above
    // the writer's frame, shows that the writer is gone.
    if f.on_alt_stack() {
        return;
    }
    let sp = f.reg(libc::REG_RSP) as u64;
    if !(sp > w.call_slot && sp - w.call_slot < 1 << 30) {
        return;
    }
    crate::log!(
        Debug,
        "stale call window (slot {:#x}, sp {sp:#x}, ip {:#x}) closed",
        w.call_slot,
        f.rip()
    );
    match globals().backend {
        Backend::Pkey => {
            if let Some(p) = pkru::frame_get(ctx) {
                pkru::frame_set(ctx, p.sealed(globals().key_set));
            }
        }
        _ => {
            seal_pages(&w.pages[..w.n]);
            f.set_sigmask(w.saved_mask);
        }
    }
    give_back_return_address(&w);
    WINDOW.with(|c| c.set(Window::CLOSED));
    state::bump(&COUNTERS.reseals);
}

/// Records the page in this thread's window and arms the trap flag.
fn open(f: &Frame, page: u64, key: u32) {
    let mut w = WINDOW.with(Cell::get);
    if !w.active {
        w = Window {
            active: true,
            tf_was_set: f.reg(libc::REG_EFL) & EFLAGS_TF != 0,
            saved_mask: f.sigmask(),
            ..Window::CLOSED
        };
        f.set_sigmask(!SYNC_SIGNALS);
        state::bump(&COUNTERS.opens);
    }
    w.keys |= 1 << key;
    if w.n < MAX_OPEN_PAGES && !w.pages[..w.n].contains(&page) {
        w.pages[w.n] = page;
        w.n += 1;
        state::bump(&COUNTERS.pages_opened);
    }
    WINDOW.with(|c| c.set(w));
    f.set_reg(libc::REG_EFL, f.reg(libc::REG_EFL) | EFLAGS_TF);
}

/// Completes a faulting `rep movs`/`rep stos` inside guarded memory in one
/// go. Returns false when the instruction is not one, or cannot be done
/// here (the caller then steps it like any other store).
fn try_rep_string(f: &Frame, fault_addr: u64) -> bool {
    // Inside an instruction window (a straddling store's second page) the
    // step completes it; inside a call window the copy is done here too.
    let w = WINDOW.with(Cell::get);
    if w.active && !w.is_call() {
        return false;
    }
    let rip = f.rip();
    let to_page_end = (4096 - (rip & 4095)).min(15) as usize;
    // SAFETY: the instruction at rip is being executed, so its page is
    // mapped; we read no further than that page's end.
    let bytes = unsafe { core::slice::from_raw_parts(rip as *const u8, to_page_end) };
    let Some(insn) = x86::decode_rep_string(bytes) else {
        return false;
    };
    let regs = StringRegs {
        rcx: f.reg(libc::REG_RCX) as u64,
        rsi: f.reg(libc::REG_RSI) as u64,
        rdi: f.reg(libc::REG_RDI) as u64,
        df: f.reg(libc::REG_EFL) & EFLAGS_DF != 0,
    };
    let Some((lo, hi)) = state::with_snapshot(|s| s.and_then(|s| s.extent(fault_addr))) else {
        return false;
    };
    let Some(plan) = x86::plan_rep(&insn, regs, lo, hi) else {
        return false;
    };
    if insn.op == StringOp::Movs {
        // The source must be readable, not just mapped: probe each page.
        // Overlapping copies are left to the CPU (stepped).
        if x86::needs_elementwise(&plan, regs.df) {
            return false;
        }
        let mut p = plan.src_lo & !4095;
        while p < plan.src_hi {
            if !sys::readable(p) {
                return false;
            }
            p += 4096;
        }
    }
    let g = globals();
    let (dlo, dhi) = (plan.dst_lo & !4095, jg::page_ceil(plan.dst_hi));
    let prot = region_prot(dlo);
    // pkey: the handler's own PKRU is open, and the pages keep their keys.
    // Pages still under the reserve key stay there: that key is never
    // opened, so they are as sealed as keyed pages, and their first
    // ordinary write gives them their code key.
    if g.backend != Backend::Pkey
        && sys::mprotect(dlo, dhi - dlo, libc::PROT_READ | libc::PROT_WRITE).is_err()
    {
        return false;
    }
    let bytes = plan.dst_hi - plan.dst_lo;
    // SAFETY: the destination lies inside guarded regions (mapped, and
    // writable for this handler: PKRU opened above or pages made RW); every
    // source page was probed readable and does not overlap the destination
    // ahead of the copy; sizes come from the plan.
    unsafe {
        match insn.op {
            StringOp::Stos => {
                let v = f.reg(libc::REG_RAX) as u64;
                if insn.size == 1 {
                    core::ptr::write_bytes(plan.dst_lo as *mut u8, v as u8, bytes as usize);
                } else {
                    let mut p = plan.dst_lo;
                    while p < plan.dst_hi {
                        match insn.size {
                            2 => (p as *mut u16).write_unaligned(v as u16),
                            4 => (p as *mut u32).write_unaligned(v as u32),
                            _ => (p as *mut u64).write_unaligned(v),
                        }
                        p += insn.size;
                    }
                }
            }
            StringOp::Movs => {
                core::ptr::copy(
                    plan.src_lo as *const u8,
                    plan.dst_lo as *mut u8,
                    bytes as usize,
                );
            }
        }
    }
    if g.backend != Backend::Pkey {
        let _ = sys::mprotect(dlo, dhi - dlo, guard::sealed_prot(prot));
    }
    f.set_reg(libc::REG_RCX, plan.after.rcx as i64);
    f.set_reg(libc::REG_RSI, plan.after.rsi as i64);
    f.set_reg(libc::REG_RDI, plan.after.rdi as i64);
    if plan.done {
        f.set_reg(libc::REG_RIP, (rip + insn.len) as i64);
    }
    state::bump(&COUNTERS.opens);
    state::bump(&COUNTERS.rep_emulations);
    state::add(&COUNTERS.rep_bytes, bytes);
    true
}
