//! The seccomp-BPF filter jitguard installs (`JITGUARD_SECCOMP`), built as
//! data: classic BPF over the kernel's `struct seccomp_data`, with a small
//! interpreter so the decisions are unit-tested without a kernel.
//!
//! Hand-written rather than built with rust-vmm's `seccompiler`: that
//! crate compares system-call numbers and arguments only, and the point of
//! this filter is `seccomp_data.instruction_pointer` (a guarded call is
//! let through only from jitguard's own `syscall` instruction). The
//! program is 20-odd instructions in the kernel's documented layout
//! (Documentation/userspace-api/seccomp_filter.rst, linux/filter.h).
//!
//! What it does (x86-64):
//! - `vmwrite` rules (every mode but off): `process_vm_writev` whose pid
//!   is this process's fails with EPERM (x86-64, x32 and i386 numbers).
//! - `trap` rules, only in trap mode: `mmap` asking for write and execute
//!   together (from anywhere: jitguard never does), and, unless made from
//!   jitguard's instruction, `mprotect` asking for both (under the
//!   mprotect backend: for write or execute), every `pkey_mprotect`,
//!   `pkey_alloc`, `pkey_free` and `process_vm_writev` (to another id
//!   than the own pid) raise SIGSYS (SECCOMP_RET_TRAP, si_errno =
//!   [`TRAP_DATA`]); the handler runs them through jitguard's guarded path. `execve` and
//!   `execveat` fail with EPERM (the filter outlives exec, jitguard's
//!   handler would not: see SECURITY.md). i386 (`int 0x80`) and x32 calls
//!   fail with ENOSYS: they would reach mmap/mprotect under other numbers.

/// `SECCOMP_RET_*` actions (linux/seccomp.h).
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
/// The data jitguard's traps carry (the handler sees it in si_errno), so
/// they are told from a program's own filter's: "JG".
pub const TRAP_DATA: u32 = 0x4a47;
/// `si_code` of a seccomp SIGSYS.
pub const SYS_SECCOMP: i32 = 1;

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// x86-64 system-call numbers the filter names.
pub mod nr {
    pub const MMAP: u32 = 9;
    pub const MPROTECT: u32 = 10;
    pub const EXECVE: u32 = 59;
    pub const PROCESS_VM_WRITEV: u32 = 311;
    pub const EXECVEAT: u32 = 322;
    pub const PKEY_MPROTECT: u32 = 329;
    pub const PKEY_ALLOC: u32 = 330;
    pub const PKEY_FREE: u32 = 331;
    pub const PERSONALITY: u32 = 135;
    /// x32's own number (its iovec differs), with the x32 bit.
    pub const X32_PROCESS_VM_WRITEV: u32 = super::X32_SYSCALL_BIT | 539;
    /// i386 (`int 0x80`).
    pub const I386_PROCESS_VM_WRITEV: u32 = 348;
}

/// The personality flag that makes every readable mapping executable
/// (do_mmap adds PROT_EXEC): `mmap(RW)` then gives W+X memory that no
/// hook and no prot rule sees.
pub const READ_IMPLIES_EXEC: u32 = 0x0040_0000;
/// `personality(0xffffffff)` only queries.
pub const PERSONALITY_QUERY: u32 = 0xffff_ffff;

/// Whether `personality(persona)` would turn READ_IMPLIES_EXEC on.
pub fn sets_read_implies_exec(persona: u32) -> bool {
    persona != PERSONALITY_QUERY && persona & READ_IMPLIES_EXEC != 0
}

const PROT_WRITE: u32 = 2;
const PROT_EXEC: u32 = 4;
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP: u32 = 8;
const fn off_arg(i: u32) -> u32 {
    16 + 8 * i
}

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// What the filter should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The instruction pointer the kernel reports for jitguard's own
    /// system calls (the instruction after its `syscall`).
    pub gate: u64,
    /// Trap rules on (else only the vmwrite rules).
    pub trap: bool,
    /// The page-table backend: a plain `mprotect` adding write to guarded
    /// code unseals it, so any write or execute request is trapped.
    pub mprotect_backend: bool,
    /// This process's id when the filter is installed.
    pub pid: u32,
    /// The value jitguard's gated calls carry in their sixth argument
    /// (unused by mprotect, pkey_mprotect, pkey_alloc and pkey_free): from
    /// the gate without it, they trap too.
    pub secret: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum L {
    Arch64,
    NotArch64,
    I386,
    Native,
    X32,
    Mmap,
    Mprotect,
    Gated,
    GatedSecretHi,
    GatedIp,
    GatedHi,
    Trap,
    Exec,
    VmPid,
    VmPidTrap,
    Persona,
    PersonaBit,
    Eperm,
    Enosys,
    Allow,
}

enum Op {
    Ld(u32),
    And(u32),
    Jeq(u32, L, L),
    Jge(u32, L, L),
    Jset(u32, L, L),
    Ret(u32),
    At(L),
}

/// Builds the filter for `plan`.
pub fn build(plan: &Plan) -> Vec<Insn> {
    use Op::*;
    use L::*;
    let mut p = vec![Ld(OFF_ARCH), Jeq(AUDIT_ARCH_X86_64, Arch64, NotArch64)];
    p.push(At(NotArch64));
    p.push(Jeq(AUDIT_ARCH_I386, I386, Allow));
    p.push(At(I386));
    if plan.trap {
        p.push(Ret(RET_ERRNO | ENOSYS));
    } else {
        p.push(Ld(OFF_NR));
        p.push(Jeq(nr::I386_PROCESS_VM_WRITEV, VmPid, Allow));
    }
    p.extend([At(Arch64), Ld(OFF_NR), Jge(X32_SYSCALL_BIT, X32, Native)]);
    p.push(At(X32));
    if plan.trap {
        p.push(Ret(RET_ERRNO | ENOSYS));
    } else {
        p.push(Jeq(nr::X32_PROCESS_VM_WRITEV, VmPid, Allow));
    }
    p.push(At(Native));
    if plan.trap {
        let next = [
            Mmap, Mprotect, Gated, Gated, Gated, VmPidTrap, Exec, Exec, Persona,
        ];
        let nrs = [
            nr::MMAP,
            nr::MPROTECT,
            nr::PKEY_MPROTECT,
            nr::PKEY_ALLOC,
            nr::PKEY_FREE,
            nr::PROCESS_VM_WRITEV,
            nr::EXECVE,
            nr::EXECVEAT,
            nr::PERSONALITY,
        ];
        // Each test falls through to the next; a label per fall-through
        // would be noise, so the false branch is "the next instruction".
        for (n, to) in nrs.iter().zip(next) {
            p.push(Jeq(*n, to, Native));
        }
        p.push(Ret(RET_ALLOW));
        let wx = PROT_WRITE | PROT_EXEC;
        // jitguard itself never maps W+X memory (it maps without write,
        // then seals): such an mmap traps even from the gate, which a
        // code-reuse attacker could otherwise jump to.
        p.extend([At(Mmap), Ld(off_arg(2)), And(wx), Jeq(wx, Trap, Allow)]);
        // personality() turning READ_IMPLIES_EXEC on fails with EPERM.
        p.extend([
            At(Persona),
            Ld(off_arg(0)),
            Jeq(PERSONALITY_QUERY, Allow, PersonaBit),
            At(PersonaBit),
            Jset(READ_IMPLIES_EXEC, Eperm, Allow),
        ]);
        p.extend([At(Mprotect), Ld(off_arg(2))]);
        if plan.mprotect_backend {
            p.push(Jset(wx, Gated, Allow));
        } else {
            p.extend([And(wx), Jeq(wx, Gated, Allow)]);
        }
        p.extend([
            // process_vm_writev to the own pid fails even from the gate
            // (jitguard never writes itself); other ids are judged by the
            // handler (a thread id reaches the same memory), whose pass-
            // through comes from the gate with all six arguments its own.
            At(VmPidTrap),
            Ld(off_arg(0)),
            Jeq(plan.pid, Eperm, GatedIp),
            At(Gated),
            Ld(off_arg(5)),
            Jeq(plan.secret as u32, GatedSecretHi, Trap),
            At(GatedSecretHi),
            Ld(off_arg(5) + 4),
            Jeq((plan.secret >> 32) as u32, GatedIp, Trap),
            At(GatedIp),
            Ld(OFF_IP),
            Jeq(plan.gate as u32, GatedHi, Trap),
            At(GatedHi),
            Ld(OFF_IP + 4),
            Jeq((plan.gate >> 32) as u32, Allow, Trap),
            At(Trap),
            Ret(RET_TRAP | TRAP_DATA),
            At(Exec),
            Ret(RET_ERRNO | EPERM),
        ]);
    } else {
        p.push(Jeq(nr::PROCESS_VM_WRITEV, VmPid, Allow));
    }
    // pid_t is 32 bits: the kernel reads only the low half of the register.
    p.extend([
        At(VmPid),
        Ld(off_arg(0)),
        Jeq(plan.pid, Eperm, Allow),
        At(Eperm),
        Ret(RET_ERRNO | EPERM),
        At(Enosys),
        Ret(RET_ERRNO | ENOSYS),
        At(Allow),
        Ret(RET_ALLOW),
    ]);
    assemble(&p)
}

/// Resolves labels into the forward offsets classic BPF jumps take. A
/// `Jeq(n, to, Native)` inside the trap list means "else the next
/// instruction" (see `build`).
fn assemble(ops: &[Op]) -> Vec<Insn> {
    let mut at = Vec::new();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::At(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let pos = |l: L| at.iter().find(|(x, _)| *x == l).map(|(_, p)| *p);
    let mut out = Vec::with_capacity(n);
    let mut in_native_list = false;
    for op in ops {
        let here = out.len();
        let off = |l: L, fallthrough_native: bool| -> u8 {
            if fallthrough_native && l == L::Native {
                return 0;
            }
            let to = pos(l).expect("label placed");
            assert!(to > here, "BPF jumps go forward only");
            u8::try_from(to - here - 1).expect("jump fits in 8 bits")
        };
        let j = |code, k, t, f, fall| Insn {
            code,
            jt: off(t, false),
            jf: off(f, fall),
            k,
        };
        match *op {
            Op::At(l) => {
                in_native_list = l == L::Native;
                continue;
            }
            Op::Ld(k) => out.push(Insn {
                code: LD_W_ABS,
                jt: 0,
                jf: 0,
                k,
            }),
            Op::And(k) => out.push(Insn {
                code: ALU_AND_K,
                jt: 0,
                jf: 0,
                k,
            }),
            Op::Jeq(k, t, f) => out.push(j(JMP_JEQ_K, k, t, f, in_native_list)),
            Op::Jge(k, t, f) => out.push(j(JMP_JGE_K, k, t, f, false)),
            Op::Jset(k, t, f) => out.push(j(JMP_JSET_K, k, t, f, false)),
            Op::Ret(k) => {
                in_native_list = false;
                out.push(Insn {
                    code: RET_K,
                    jt: 0,
                    jf: 0,
                    k,
                })
            }
        }
    }
    out
}

/// What jitguard asks of the kernel at start-up for a `JITGUARD_SECCOMP`
/// setting, given whether no_new_privs is already set and whether the
/// process has CAP_SYS_ADMIN (either lets a filter be installed without
/// setting no_new_privs itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Install {
    Nothing,
    Filter { trap: bool, set_no_new_privs: bool },
}

pub fn install_for(
    setting: crate::config::Seccomp,
    no_new_privs: bool,
    cap_sys_admin: bool,
) -> Install {
    use crate::config::Seccomp;
    let free = no_new_privs || cap_sys_admin;
    match setting {
        Seccomp::Off => Install::Nothing,
        // Only where it changes nothing else about the process.
        Seccomp::Auto if free => Install::Filter {
            trap: false,
            set_no_new_privs: false,
        },
        Seccomp::Auto => Install::Nothing,
        Seccomp::Vmwrite | Seccomp::Trap => Install::Filter {
            trap: setting == Seccomp::Trap,
            set_no_new_privs: !free,
        },
    }
}

/// A trapped call, as the SIGSYS handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trapped {
    Mmap,
    Mprotect,
    PkeyMprotect,
    PkeyAlloc,
    PkeyFree,
    ProcessVmWritev,
    /// Not one the filter traps (a program's own filter's, or a bug).
    Other,
}

pub fn classify(nr: i64) -> Trapped {
    match u32::try_from(nr) {
        Ok(nr::MMAP) => Trapped::Mmap,
        Ok(nr::MPROTECT) => Trapped::Mprotect,
        Ok(nr::PKEY_MPROTECT) => Trapped::PkeyMprotect,
        Ok(nr::PKEY_ALLOC) => Trapped::PkeyAlloc,
        Ok(nr::PKEY_FREE) => Trapped::PkeyFree,
        Ok(nr::PROCESS_VM_WRITEV) => Trapped::ProcessVmWritev,
        _ => Trapped::Other,
    }
}

#[cfg(test)]
#[path = "seccomp_policy_tests.rs"]
mod tests;
