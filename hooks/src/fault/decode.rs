//! Decoding what the kernel handed the handler: the interrupted context's
//! registers (`Frame`) and what a SIGSEGV or SIGTRAP means for jitguard
//! (`Fault`). Nothing here changes anything.

use jg::pkru::KeySet;
use libc::{c_int, siginfo_t, ucontext_t};

/// `si_code` values (the libc crate does not name the x86 ones).
pub const SEGV_ACCERR: c_int = 2;
pub const SEGV_PKUERR: c_int = 4;
pub const TRAP_TRACE: c_int = 2;
/// Offset of `si_pkey` in a SEGV_PKUERR siginfo: after si_addr (8 bytes
/// at 16) and si_addr_lsb with its padding (8 bytes at 24).
pub const SI_PKEY_OFFSET: usize = 32;
pub const EFLAGS_TF: i64 = 1 << 8;
pub const EFLAGS_DF: i64 = 1 << 10;
/// Page-fault error code bits (REG_ERR).
pub const PF_WRITE: i64 = 1 << 1;
pub const PF_INSTR: i64 = 1 << 4;

/// Register access in a signal frame.
#[derive(Clone, Copy)]
pub struct Frame(*mut ucontext_t);

impl Frame {
    /// # Safety
    /// `ctx` must be the ucontext the kernel passed to an SA_SIGINFO
    /// handler (or a valid ucontext the caller owns), valid and unaliased
    /// for as long as the `Frame` is used.
    pub unsafe fn new(ctx: *mut libc::c_void) -> Frame {
        Frame(ctx.cast())
    }

    pub fn ctx(&self) -> *mut libc::c_void {
        self.0.cast()
    }

    pub fn reg(&self, r: c_int) -> i64 {
        // SAFETY: the constructor's contract; r is one of libc's REG_*.
        unsafe { (*self.0).uc_mcontext.gregs[r as usize] }
    }

    pub fn set_reg(&self, r: c_int, v: i64) {
        // SAFETY: as above; the frame is ours to edit until sigreturn.
        unsafe { (*self.0).uc_mcontext.gregs[r as usize] = v }
    }

    pub fn gregs(&self) -> &[i64; crate::sys::NGREG] {
        // SAFETY: as above; the registers of the interrupted context.
        unsafe { &(*self.0).uc_mcontext.gregs }
    }

    /// Whether the interrupted code ran on an alternate signal stack.
    pub fn on_alt_stack(&self) -> bool {
        // SAFETY: as above; uc_stack is part of the kernel's frame.
        unsafe { (*self.0).uc_stack.ss_flags & libc::SS_ONSTACK != 0 }
    }

    pub fn rip(&self) -> u64 {
        self.reg(libc::REG_RIP) as u64
    }

    pub fn sp(&self) -> u64 {
        self.reg(libc::REG_RSP) as u64
    }

    pub fn trap_flag(&self) -> bool {
        self.reg(libc::REG_EFL) & EFLAGS_TF != 0
    }

    pub fn set_trap_flag(&self, on: bool) {
        let f = self.reg(libc::REG_EFL);
        self.set_reg(
            libc::REG_EFL,
            if on { f | EFLAGS_TF } else { f & !EFLAGS_TF },
        );
    }

    /// The page-fault error code.
    pub fn error_code(&self) -> i64 {
        self.reg(libc::REG_ERR)
    }

    /// The mask the thread resumes with (the kernel's 64-bit sigset is the
    /// first word of glibc's sigset_t).
    pub fn sigmask(&self) -> u64 {
        // SAFETY: uc_sigmask is at least 8 bytes, inside the frame.
        unsafe {
            (&raw const (*self.0).uc_sigmask)
                .cast::<u64>()
                .read_unaligned()
        }
    }

    pub fn set_sigmask(&self, m: u64) {
        // SAFETY: as above; sigreturn installs this mask.
        unsafe {
            (&raw mut (*self.0).uc_sigmask)
                .cast::<u64>()
                .write_unaligned(m)
        }
    }
}

/// The fields of a siginfo the handler uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub code: c_int,
    pub addr: u64,
    /// Only meaningful for SEGV_PKUERR.
    pub pkey: u32,
}

impl Info {
    /// # Safety
    /// `info` must be the kernel's siginfo for a SIGSEGV or SIGTRAP.
    pub unsafe fn read(info: *const siginfo_t) -> Info {
        // SAFETY: the caller's contract: si_code and si_addr are valid for
        // these signals, and the siginfo is 128 bytes, so the pkey word at
        // SI_PKEY_OFFSET is inside it (garbage unless SEGV_PKUERR).
        unsafe {
            Info {
                code: (*info).si_code,
                addr: (*info).si_addr() as u64,
                pkey: (info as *const u8)
                    .add(SI_PKEY_OFFSET)
                    .cast::<u32>()
                    .read_unaligned(),
            }
        }
    }
}

/// What a SIGSEGV is, for jitguard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A write to a page under one of jitguard's keys.
    KeyWrite { addr: u64, key: u32 },
    /// A read (or fetch) under one of jitguard's keys: the context runs
    /// with the kernel's PKRU (a signal handler, a thread jitguard has not
    /// sealed), which disables access to every key.
    KeyRead { addr: u64, key: u32 },
    /// mprotect: a write to a sealed guarded page.
    PageWrite { addr: u64 },
    /// mprotect: an instruction fetch from a guarded page opened without
    /// execute permission.
    PageExec { page: u64 },
    /// Not jitguard's: the program's own fault.
    NotOurs,
}

/// Classifies a SIGSEGV. `ours` are jitguard's keys (empty under
/// mprotect); `guarded` says whether an address is in a guarded region.
pub fn decode_segv(
    info: Info,
    err: i64,
    ours: Option<KeySet>,
    guarded: impl Fn(u64) -> bool,
) -> Fault {
    match ours {
        Some(keys) => {
            if info.code != SEGV_PKUERR || !keys.contains(info.pkey) {
                return Fault::NotOurs;
            }
            if err & PF_WRITE != 0 {
                Fault::KeyWrite {
                    addr: info.addr,
                    key: info.pkey,
                }
            } else {
                Fault::KeyRead {
                    addr: info.addr,
                    key: info.pkey,
                }
            }
        }
        None => {
            if info.code != SEGV_ACCERR || !guarded(info.addr) {
                Fault::NotOurs
            } else if err & PF_INSTR != 0 {
                Fault::PageExec {
                    page: jg::page_floor(info.addr),
                }
            } else if err & PF_WRITE != 0 {
                Fault::PageWrite { addr: info.addr }
            } else {
                Fault::NotOurs
            }
        }
    }
}

/// Whether a SIGTRAP is the end of this thread's stepped instruction.
pub fn is_step_end(code: c_int, in_insn_window: bool) -> bool {
    code == TRAP_TRACE && in_insn_window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: c_int, addr: u64, pkey: u32) -> Info {
        Info { code, addr, pkey }
    }

    const KEYS: KeySet = KeySet(0b110); // keys 1 and 2

    #[test]
    fn pkey_write_and_read_faults_on_our_keys() {
        let i = info(SEGV_PKUERR, 0x1008, 2);
        assert_eq!(
            decode_segv(i, PF_WRITE, Some(KEYS), |_| true),
            Fault::KeyWrite {
                addr: 0x1008,
                key: 2
            }
        );
        assert_eq!(
            decode_segv(i, 0, Some(KEYS), |_| true),
            Fault::KeyRead {
                addr: 0x1008,
                key: 2
            }
        );
    }

    #[test]
    fn other_keys_and_codes_are_the_programs() {
        assert_eq!(
            decode_segv(info(SEGV_PKUERR, 0x1008, 5), PF_WRITE, Some(KEYS), |_| true),
            Fault::NotOurs,
            "the program's own key"
        );
        assert_eq!(
            decode_segv(info(SEGV_ACCERR, 0x1008, 1), PF_WRITE, Some(KEYS), |_| true),
            Fault::NotOurs,
            "an ordinary protection fault under pkey"
        );
        assert_eq!(
            decode_segv(info(1, 0, 0), PF_WRITE, None, |_| false),
            Fault::NotOurs,
            "SEGV_MAPERR"
        );
    }

    #[test]
    fn mprotect_faults_need_a_guarded_address() {
        let i = info(SEGV_ACCERR, 0x5123, 0);
        assert_eq!(
            decode_segv(i, PF_WRITE, None, |a| a == 0x5123),
            Fault::PageWrite { addr: 0x5123 }
        );
        assert_eq!(decode_segv(i, PF_WRITE, None, |_| false), Fault::NotOurs);
        assert_eq!(
            decode_segv(i, PF_INSTR, None, |_| true),
            Fault::PageExec { page: 0x5000 }
        );
        assert_eq!(
            decode_segv(i, 0, None, |_| true),
            Fault::NotOurs,
            "a read of a guarded page is never jitguard's under mprotect"
        );
    }

    #[test]
    fn step_end_needs_a_trace_trap_in_an_instruction_window() {
        assert!(is_step_end(TRAP_TRACE, true));
        assert!(!is_step_end(TRAP_TRACE, false));
        assert!(!is_step_end(1 /* TRAP_BRKPT: int3 */, true));
    }

    fn context() -> Box<ucontext_t> {
        // SAFETY: ucontext_t is plain data; all-zero is a valid value.
        Box::new(unsafe { core::mem::zeroed() })
    }

    #[test]
    fn frame_reads_and_edits_registers_flags_and_mask() {
        let mut uc = context();
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] = 0x40_1000;
        uc.uc_mcontext.gregs[libc::REG_RSP as usize] = 0x7ff0;
        uc.uc_mcontext.gregs[libc::REG_ERR as usize] = PF_WRITE;
        // SAFETY: a valid ucontext owned by this test.
        let f = unsafe { Frame::new((&raw mut *uc).cast()) };
        assert_eq!(
            (f.rip(), f.sp(), f.error_code()),
            (0x40_1000, 0x7ff0, PF_WRITE)
        );
        assert!(!f.trap_flag());
        f.set_trap_flag(true);
        assert!(f.trap_flag());
        assert_eq!(f.reg(libc::REG_EFL), EFLAGS_TF);
        f.set_trap_flag(false);
        assert_eq!(f.reg(libc::REG_EFL), 0);
        f.set_sigmask(0xdead_beef);
        assert_eq!(f.sigmask(), 0xdead_beef);
        assert!(!f.on_alt_stack());
        uc.uc_stack.ss_flags = libc::SS_ONSTACK;
        // SAFETY: as above.
        let f = unsafe { Frame::new((&raw mut *uc).cast()) };
        assert!(f.on_alt_stack());
    }

    #[test]
    fn info_reads_the_pkey_word() {
        // SAFETY: siginfo_t is plain data; all-zero is valid.
        let mut si: siginfo_t = unsafe { core::mem::zeroed() };
        si.si_code = SEGV_PKUERR;
        // SAFETY: writing inside the 128-byte siginfo.
        unsafe {
            (&raw mut si)
                .cast::<u8>()
                .add(16)
                .cast::<u64>()
                .write_unaligned(0xabc0);
            (&raw mut si)
                .cast::<u8>()
                .add(SI_PKEY_OFFSET)
                .cast::<u32>()
                .write_unaligned(7);
        }
        // SAFETY: a valid siginfo owned by this test.
        let i = unsafe { Info::read(&si) };
        assert_eq!(i, info(SEGV_PKUERR, 0xabc0, 7));
    }
}
