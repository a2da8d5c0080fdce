//! The call gate: a libc call that makes the kernel write into guarded
//! memory (`read` into a code page) is judged like a store, by its caller.
//!
//! The kernel's own writes never fault in user space: into a sealed page
//! they fail with EFAULT, silently, which lets an attacker probe for an
//! open window for free (and under mprotect, land once a window opens).
//! So the hooks judge the call before the kernel runs it: the writer is
//! the program's call site of the libc function (the first frame outside
//! libjitguard.so, then out of the shared routine libraries, exactly as a
//! store in memcpy is judged by memcpy's caller), the policy is the
//! writer policy the fault handler uses, and then:
//! - trusted (or audit/learn mode): the destination pages are opened for
//!   this call only and sealed again right after it returns (pkey: their
//!   keys in this thread's PKRU; mprotect: the pieces in the page table);
//! - refused: the same `jitguard: denied write` report as a rogue store,
//!   then SIGSEGV, before the kernel writes anything.
//!
//! A call whose buffers touch no guarded memory costs a few loads (no
//! region at all, or a buffer outside the guarded address bounds), else
//! one snapshot lookup per buffer: no system call.
//! Nothing here allocates or takes a lock (the snapshot and the writer
//! view are lock-free reads), so a gated `read` stays async-signal-safe.

use crate::counters::{self, COUNTERS, GUARDED_PAGES};
use crate::protect::Protection;
use crate::state::{globals, protection};
use crate::writers::{self, View};
use crate::{pkru, regions, signals, sys};
use core::sync::atomic::Ordering::Relaxed;
use jg::config::Mode;
use jg::gate::DestRanges;
use jg::pkru::KeySet;
use jg::unwind::Regs;
use jg::writer::{Decision, WriteSite, WriterPolicy};

/// The destination buffers of one call that touch guarded memory (see
/// `jg::gate`: the gate's own copy, what it opens and seals).
#[derive(Clone, Copy)]
pub struct Dest(DestRanges);

impl Dest {
    pub const fn new() -> Dest {
        Dest(DestRanges::new())
    }

    /// Adds the destination buffer `[addr, addr + len)` if it touches
    /// guarded memory.
    pub fn add(&mut self, addr: u64, len: u64) {
        let Some((lo, hi)) = jg::procmem::dest_range(addr, len) else {
            return;
        };
        if regions::may_overlap(lo, hi) && regions::overlaps(lo, hi) {
            self.0.add(lo, hi);
        }
    }

    pub fn touches_guarded(&self) -> bool {
        !self.0.is_empty()
    }

    fn first_addr(&self) -> u64 {
        self.0.first_addr().unwrap_or(0)
    }

    fn each(&self, f: impl FnMut(u64, u64)) {
        self.0.each(f)
    }
}

/// Whether any guarded region exists at all (one load: the fast path of
/// every hook before it looks at a buffer).
pub fn any_guarded() -> bool {
    crate::state::ready() && GUARDED_PAGES.load(Relaxed) != 0
}

/// Whether a hook's single buffer touches guarded memory: the hook's
/// whole cost when it does not (a few loads; the snapshot only when the
/// buffer lies within the guarded address range).
pub fn touches(addr: u64, len: u64) -> bool {
    any_guarded()
        && jg::procmem::dest_range(addr, len)
            .is_some_and(|(lo, hi)| regions::may_overlap(lo, hi) && regions::overlaps(lo, hi))
}

/// This function's own registers, as the unwinder needs them: the next
/// instruction, the stack pointer and the callee-saved registers, all at
/// one point of its code (its unwind row describes them).
#[inline(always)]
fn current_regs() -> Regs {
    let (ip, sp, bp, bx, r12, r13, r14, r15): (u64, u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: reads registers only; no memory or stack is touched.
    unsafe {
        core::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            "mov {bx}, rbx",
            "mov {r12}, r12",
            "mov {r13}, r13",
            "mov {r14}, r14",
            "mov {r15}, r15",
            ip = out(reg) ip,
            sp = out(reg) sp,
            bp = out(reg) bp,
            bx = out(reg) bx,
            r12 = out(reg) r12,
            r13 = out(reg) r13,
            r14 = out(reg) r14,
            r15 = out(reg) r15,
            options(nomem, nostack, preserves_flags),
        );
    }
    let mut r = Regs::new(ip, sp, bp);
    for (reg, v) in [(3, bx), (12, r12), (13, r13), (14, r14), (15, r15)] {
        r.set(reg, v);
    }
    r
}

/// The frames of the program's call into the running hook.
#[inline(never)]
pub fn caller_walk(view: &View, until_decider: bool) -> Option<writers::Walk> {
    writers::walk_from_hook(view, current_regs(), until_decider)
}

/// What the policy says of the program's call of `hook`, which would make
/// the kernel write at `addr` (reported and learned as a store would be).
fn judge(hook: &str, addr: u64) -> Decision {
    let g = globals();
    counters::bump(&COUNTERS.write_faults);
    let view = writers::view();
    let policy = view
        .as_deref()
        .map_or(&WriterPolicy::AllowAll, |v| &v.judging(addr).policy);
    let walked = view
        .as_deref()
        .filter(|_| g.config.mode == Mode::Learn || *policy != WriterPolicy::AllowAll)
        .and_then(|v| caller_walk(v, true).map(|w| (v, w)));
    let (decider, regs, ip) = match &walked {
        Some((_, w)) => (w.decider.map(|i| w.frames[i]), w.decider_regs, w.frames[0]),
        None => (None, None, 0),
    };
    let vouched = match (&walked, policy, regs) {
        (Some((v, _)), WriterPolicy::Profile(a), Some(r))
            if !decider.is_some_and(|d| a.contains(d)) =>
        {
            writers::vouched(v, a, r, false, None)
        }
        _ => false,
    };
    let site = WriteSite {
        ip,
        addr,
        tid: sys::tid(),
        decider,
        vouched,
    };
    if walked.is_some() && decider.is_none() {
        counters::bump(&COUNTERS.unnamed_writers);
    }
    let decision = policy.decide(&site, g.config.mode);
    let what = match decision {
        Decision::OpenLearned => {
            if let Some(d) = decider {
                writers::learn(d, ip);
            }
            None
        }
        Decision::OpenAudited => {
            counters::bump(&COUNTERS.audited);
            Some("audited write")
        }
        Decision::Deny => {
            counters::bump(&COUNTERS.denials);
            Some("denied write")
        }
        Decision::Open => None,
    };
    if let Some(what) = what {
        let mut b = jg::report::StackBuf::<REPORT_BYTES>::new();
        use core::fmt::Write;
        let page = jg::page_floor(addr);
        let _ = write!(
            b,
            "jitguard: {what} at {addr:#x} (page {page:#x}) by thread {}: ",
            site.tid
        );
        describe_caller(&mut b, hook, view.as_deref(), addr);
        let _ = b.write_str("\n");
        crate::log::report(b.as_bytes());
    }
    decision
}

const REPORT_BYTES: usize = 1280;

/// `writer PLACE, through HOOK(); callers: ...; writer profile: SOURCE`:
/// who called the hook, as a store's report names its writer.
pub fn describe_caller<const N: usize>(
    b: &mut jg::report::StackBuf<N>,
    hook: &str,
    view: Option<&View>,
    addr: u64,
) {
    use core::fmt::Write;
    // `read` is shown `read()`; `syscall(SYS_read)` as it is.
    let parens = if hook.ends_with(')') { "" } else { "()" };
    let Some(v) = view else {
        let _ = write!(b, "writer unknown (no writer view), through {hook}{parens}");
        return;
    };
    match caller_walk(v, false) {
        Some(w) => {
            let _ = write!(
                b,
                "writer {}, through {hook}{parens}",
                v.table.place(w.frames[0])
            );
            if w.n > 1 {
                let _ = b.write_str("; callers:");
                for (i, &ip) in w.frames[1..w.n].iter().enumerate() {
                    let sep = if i == 0 { "" } else { " <-" };
                    let _ = write!(b, "{sep} {}", v.table.place(ip));
                }
            }
            if w.decider.is_none() {
                let _ = b.write_str("; no caller outside the shared libraries could be found");
            }
        }
        None => {
            let _ = write!(
                b,
                "writer unknown (the walk failed), through {hook}{parens}"
            );
        }
    }
    let _ = write!(b, "; writer profile: {}", v.judging(addr).source);
}

/// Kills the process by SIGSEGV, as a refused store dies (the program's
/// own SIGSEGV handler does not get it: the report is the end).
pub fn die_by_segv() -> ! {
    signals::die_by_segv_on_return();
    let mut set = crate::sigmask::empty_set();
    crate::sigmask::set_first_word(&mut set, 1u64 << (libc::SIGSEGV - 1));
    // SAFETY: unblocks SIGSEGV for this thread (a program that blocked it
    // by a raw system call must not keep the refused call alive).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_UNBLOCK,
            &set as *const libc::sigset_t,
            core::ptr::null_mut::<libc::sigset_t>(),
            8usize,
        );
    }
    sys::raise_here(libc::SIGSEGV);
    // SAFETY: not reached (SIGSEGV's default action ends the process);
    // abort is always sound.
    unsafe { libc::abort() }
}

/// Runs the real call `f` for the program's call of `hook` writing into
/// `dest`: straight through when nothing guarded is written, through the
/// gate when the caller is trusted (or audit/learn mode says to allow),
/// never when it is refused (SIGSEGV).
pub fn call<R>(hook: &str, dest: &Dest, f: impl FnOnce() -> R) -> R {
    if !dest.touches_guarded() {
        return f();
    }
    let saved = sys::errno();
    if judge(hook, dest.first_addr()) == Decision::Deny {
        die_by_segv();
    }
    sys::set_errno(saved);
    through(protection(), dest, f)
}

/// For asynchronous reads (POSIX AIO), whose kernel write happens after
/// the call returns and so cannot be gated: a refused caller dies as at a
/// gated call (no silent probe); any other call goes on as it would
/// without jitguard (into sealed memory it fails later with EFAULT; see
/// SECURITY.md).
pub fn judge_async(hook: &str, dest: &Dest) {
    if dest.touches_guarded() {
        let saved = sys::errno();
        if judge(hook, dest.first_addr()) == Decision::Deny {
            die_by_segv();
        }
        sys::set_errno(saved);
    }
}

thread_local! {
    /// The destination this thread's gate holds open in the page table
    /// (mprotect), for a `longjmp` out of a signal handler that interrupted
    /// the call (`close_open_gate`).
    static OPEN: core::cell::Cell<Option<Dest>> = const { core::cell::Cell::new(None) };
}

/// Seals what a gate of this thread left open: a handler jumped out of
/// the gated call (the longjmp family's hooks call this).
pub fn close_open_gate() {
    if let Some(d) = OPEN.with(|o| o.take()) {
        let saved = sys::errno();
        let p = protection();
        d.each(|a, b| p.seal_range(jg::page_floor(a), jg::page_ceil(b)));
        sys::set_errno(saved);
    }
}

extern "C" {
    fn pthread_setcancelstate(state: libc::c_int, old: *mut libc::c_int) -> libc::c_int;
    fn pthread_testcancel();
}

/// `PTHREAD_CANCEL_DISABLE` (glibc).
const PTHREAD_CANCEL_DISABLE: libc::c_int = 1;

/// Runs `f` with this thread's cancellation deferred: a cancellation
/// acted on inside the gated call would unwind past the reseal.
fn uncancellable<R>(f: impl FnOnce() -> R) -> R {
    let mut old: libc::c_int = 0;
    // SAFETY: changes this thread's cancel state only; `old` is valid.
    unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
    let r = f();
    // SAFETY: as above, restoring it.
    unsafe { pthread_setcancelstate(old, core::ptr::null_mut()) };
    r
}

/// Acts on a cancellation that arrived during the gated call, now that
/// everything is sealed again (the call stays a cancellation point).
fn test_cancel() {
    let saved = sys::errno();
    // SAFETY: the thread holds nothing of jitguard's here.
    unsafe { pthread_testcancel() };
    sys::set_errno(saved);
}

/// Opens `dest`'s guarded pages for the call `f`, seals them after it.
fn through<R>(p: &Protection, dest: &Dest, f: impl FnOnce() -> R) -> R {
    counters::bump(&COUNTERS.opens);
    let f = || uncancellable(f);
    let r = match p {
        Protection::Pkey(k) => {
            // The keys of the destination pages (and the reserve key, for
            // pages no write has keyed yet), for this thread only: signal
            // handlers run with the kernel's PKRU, other threads keep
            // theirs.
            // Only the guarded pages' keys: past 64 pages, every key.
            let mut keys = KeySet::single(k.reserve_key());
            let mut pages = 0u64;
            dest.each(|a, b| {
                regions::with_snapshot(|s| {
                    let Some(s) = s else { return };
                    for (lo, hi, _) in s.pieces(jg::page_floor(a), jg::page_ceil(b)) {
                        let mut pg = lo;
                        while pg < hi && pages < 64 {
                            keys = keys.with(k.key_for_addr(pg));
                            pg += jg::PAGE_SIZE;
                            pages += 1;
                        }
                        if pg < hi {
                            keys = k.set;
                        }
                    }
                })
            });
            let saved = pkru::read();
            pkru::write(saved.opened(keys));
            let r = f();
            pkru::write(saved);
            r
        }
        Protection::Mprotect => {
            // The guarded pieces of the buffers, writable (keeping their
            // exec, so another thread running code there does not reseal
            // them mid-call), then sealed again with their region's
            // protection. Writable to every thread meanwhile, as any
            // page-table window is.
            dest.each(|a, b| {
                regions::with_snapshot(|s| {
                    if let Some(s) = s {
                        for (lo, hi, prot) in s.pieces(jg::page_floor(a), jg::page_ceil(b)) {
                            let _ = sys::mprotect(lo, hi - lo, prot | libc::PROT_WRITE);
                        }
                    }
                })
            });
            let outer = OPEN.with(|o| o.replace(Some(*dest)));
            let r = f();
            OPEN.with(|o| o.set(outer));
            let saved = sys::errno();
            dest.each(|a, b| p.seal_range(jg::page_floor(a), jg::page_ceil(b)));
            sys::set_errno(saved);
            counters::bump(&COUNTERS.reseals);
            r
        }
    };
    test_cancel();
    r
}
