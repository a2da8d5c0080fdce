//! Unit tests of the seccomp filter, run on a small classic-BPF
//! interpreter that does what the kernel does for the instructions
//! `build` emits.

use super::*;
use crate::config::Seccomp;

/// The input the kernel gives the filter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            OFF_NR => self.nr,
            OFF_ARCH => self.arch,
            OFF_IP => self.ip as u32,
            o if o == OFF_IP + 4 => (self.ip >> 32) as u32,
            o if (16..64).contains(&o) && o % 4 == 0 => {
                let a = self.args[(o as usize - 16) / 8];
                if o % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load outside seccomp_data at {off}"),
        }
    }
}

/// Runs `prog` on `d` as the kernel would (the subset `build` emits).
pub fn run(prog: &[Insn], d: &Data) -> u32 {
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        let jump = |cond: bool| if cond { i.jt } else { i.jf } as usize;
        match i.code {
            LD_W_ABS => a = d.word(i.k),
            ALU_AND_K => a &= i.k,
            JMP_JEQ_K => pc += jump(a == i.k),
            JMP_JGE_K => pc += jump(a >= i.k),
            JMP_JSET_K => pc += jump(a & i.k != 0),
            RET_K => return i.k,
            c => panic!("opcode {c:#x} not emitted by build"),
        }
    }
}

const GATE: u64 = 0x7f12_3456_7890;
const SECRET: u64 = 0x1234_5678_9abc_def0;
const RWX: u64 = 7;

fn plan(trap: bool, mprotect_backend: bool) -> Plan {
    Plan {
        gate: GATE,
        trap,
        mprotect_backend,
        pid: 4242,
        secret: SECRET,
    }
}

fn call(nr: u32, ip: u64, args: &[u64]) -> Data {
    let mut a = [0; 6];
    a[..args.len()].copy_from_slice(args);
    Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        ip,
        args: a,
    }
}

const TRAP: u32 = RET_TRAP | TRAP_DATA;
const PERM: u32 = RET_ERRNO | EPERM;
const NOSYS: u32 = RET_ERRNO | ENOSYS;
const ELSEWHERE: u64 = 0x5555_0000_1234;

#[test]
fn wx_mappings_trap_unless_from_the_gate() {
    let p = build(&plan(true, false));
    assert_eq!(
        run(&p, &call(nr::MMAP, GATE, &[0, 4096, RWX])),
        TRAP,
        "jitguard never maps W+X: even the gate traps"
    );
    for n in [nr::MMAP, nr::MPROTECT] {
        assert_eq!(run(&p, &call(n, ELSEWHERE, &[0, 4096, RWX])), TRAP);
        if n == nr::MPROTECT {
            assert_eq!(
                run(&p, &call(n, GATE, &[0, 4096, RWX, 0, 0, SECRET])),
                RET_ALLOW
            );
            assert_eq!(
                run(&p, &call(n, GATE, &[0, 4096, RWX])),
                TRAP,
                "from the gate without the secret"
            );
            let half = SECRET & 0xffff_ffff;
            assert_eq!(run(&p, &call(n, GATE, &[0, 4096, RWX, 0, 0, half])), TRAP);
        }
        // Same low half, other high half: still not the gate.
        let near = (GATE & 0xffff_ffff) | 0x1_0000_0000;
        assert_eq!(run(&p, &call(n, near, &[0, 4096, RWX])), TRAP);
        for prot in [0, 1, 3, 5] {
            assert_eq!(
                run(&p, &call(n, ELSEWHERE, &[0, 4096, prot])),
                RET_ALLOW,
                "prot {prot}"
            );
        }
    }
    // High bits of prot are ignored by the mask, as by the kernel's
    // checks of these bits.
    let hi = RWX | 0xffff_0000_0000_0000;
    assert_eq!(
        run(&p, &call(nr::MMAP, ELSEWHERE, &[0, 1, 0, hi])),
        RET_ALLOW
    );
    assert_eq!(run(&p, &call(nr::MMAP, ELSEWHERE, &[0, 1, hi])), TRAP);
}

#[test]
fn mprotect_backend_traps_any_write_or_exec_request() {
    let p = build(&plan(true, true));
    for (prot, want) in [
        (0, RET_ALLOW),
        (1, RET_ALLOW),
        (3, TRAP),
        (5, TRAP),
        (7, TRAP),
    ] {
        assert_eq!(run(&p, &call(nr::MPROTECT, ELSEWHERE, &[0, 1, prot])), want);
    }
    // mmap still only for W+X: a fresh mapping holds no guarded code.
    assert_eq!(run(&p, &call(nr::MMAP, ELSEWHERE, &[0, 1, 3])), RET_ALLOW);
}

#[test]
fn key_calls_trap_unless_from_the_gate() {
    let p = build(&plan(true, false));
    for n in [
        nr::PKEY_MPROTECT,
        nr::PKEY_ALLOC,
        nr::PKEY_FREE,
        nr::PROCESS_VM_WRITEV,
    ] {
        assert_eq!(run(&p, &call(n, ELSEWHERE, &[1, 2, 3, 4])), TRAP);
        assert_eq!(run(&p, &call(n, GATE, &[1, 2, 3, 4, 0, SECRET])), RET_ALLOW);
        // process_vm_writev uses all six registers: the gate alone passes
        // it (the handler's pass-through into another process).
        let without = if n == nr::PROCESS_VM_WRITEV {
            RET_ALLOW
        } else {
            TRAP
        };
        assert_eq!(run(&p, &call(n, GATE, &[1, 2, 3, 4])), without, "no secret");
        assert_eq!(
            run(&p, &call(n, ELSEWHERE, &[1, 2, 3, 4, 0, SECRET])),
            TRAP,
            "the secret from elsewhere"
        );
    }
}

#[test]
fn exec_is_refused_and_foreign_abis_are_absent_in_trap_mode() {
    let p = build(&plan(true, false));
    assert_eq!(run(&p, &call(nr::EXECVE, GATE, &[])), PERM);
    assert_eq!(run(&p, &call(nr::EXECVEAT, ELSEWHERE, &[])), PERM);
    let mut i386 = call(192, ELSEWHERE, &[0, 4096, RWX]);
    i386.arch = AUDIT_ARCH_I386;
    assert_eq!(run(&p, &i386), NOSYS);
    let x32 = call(X32_SYSCALL_BIT | nr::MMAP, ELSEWHERE, &[0, 4096, RWX]);
    assert_eq!(run(&p, &x32), NOSYS);
}

#[test]
fn read_implies_exec_cannot_be_switched_on_in_trap_mode() {
    let p = build(&plan(true, false));
    let rie = READ_IMPLIES_EXEC as u64;
    assert_eq!(run(&p, &call(nr::PERSONALITY, GATE, &[rie])), PERM);
    assert_eq!(run(&p, &call(nr::PERSONALITY, ELSEWHERE, &[rie | 8])), PERM);
    for ok in [0, 8, PERSONALITY_QUERY as u64] {
        assert_eq!(run(&p, &call(nr::PERSONALITY, ELSEWHERE, &[ok])), RET_ALLOW);
    }
    assert!(sets_read_implies_exec(READ_IMPLIES_EXEC));
    assert!(!sets_read_implies_exec(PERSONALITY_QUERY));
    assert!(!sets_read_implies_exec(0));
}

#[test]
fn other_calls_pass() {
    for trap in [false, true] {
        let p = build(&plan(trap, false));
        for n in [0, 1, 11, 25, 60, 231, 435] {
            assert_eq!(run(&p, &call(n, ELSEWHERE, &[4242])), RET_ALLOW, "nr {n}");
        }
    }
}

#[test]
fn vmwrite_to_the_own_pid_fails_in_both_modes() {
    for trap in [false, true] {
        let p = build(&plan(trap, false));
        let own = call(nr::PROCESS_VM_WRITEV, GATE, &[4242]);
        // Refused by pid in both modes, from the gate too.
        assert_eq!(run(&p, &own), PERM, "trap {trap}");
    }
    // Trap mode sends other ids to the handler (a thread id reaches
    // the same memory), unless they come from the gate (the handler's
    // own pass-through of a write into another process).
    let p = build(&plan(true, false));
    assert_eq!(
        run(&p, &call(nr::PROCESS_VM_WRITEV, ELSEWHERE, &[4243])),
        TRAP
    );
    assert_eq!(
        run(&p, &call(nr::PROCESS_VM_WRITEV, GATE, &[4243])),
        RET_ALLOW
    );
    let p = build(&plan(false, false));
    let mut other = call(nr::PROCESS_VM_WRITEV, ELSEWHERE, &[4243]);
    assert_eq!(run(&p, &other), RET_ALLOW);
    other.args[0] = 4242 | 0xffff_ffff_0000_0000;
    assert_eq!(run(&p, &other), PERM, "only the low 32 bits are the pid");
    let mut i386 = call(nr::I386_PROCESS_VM_WRITEV, ELSEWHERE, &[4242]);
    i386.arch = AUDIT_ARCH_I386;
    assert_eq!(run(&p, &i386), PERM);
    let x32 = call(nr::X32_PROCESS_VM_WRITEV, ELSEWHERE, &[4242]);
    assert_eq!(run(&p, &x32), PERM);
    // vmwrite mode leaves exec, W+X and the key calls alone.
    for n in [nr::EXECVE, nr::MMAP, nr::PKEY_MPROTECT] {
        assert_eq!(run(&p, &call(n, ELSEWHERE, &[0, 1, RWX])), RET_ALLOW);
    }
}

#[test]
fn every_jump_lands_inside_the_program() {
    for trap in [false, true] {
        for mp in [false, true] {
            let p = build(&plan(trap, mp));
            assert!(p.len() < 64, "{}", p.len());
            for (i, insn) in p.iter().enumerate() {
                if insn.code & 0x07 == 0x05 {
                    assert!(i + 1 + (insn.jt.max(insn.jf) as usize) < p.len());
                }
            }
            assert_eq!(p.last().unwrap().code, RET_K);
        }
    }
}

#[test]
fn auto_installs_only_where_it_costs_nothing_else() {
    assert_eq!(install_for(Seccomp::Auto, false, false), Install::Nothing);
    let quiet = Install::Filter {
        trap: false,
        set_no_new_privs: false,
    };
    assert_eq!(install_for(Seccomp::Auto, true, false), quiet);
    assert_eq!(install_for(Seccomp::Auto, false, true), quiet);
    assert_eq!(install_for(Seccomp::Off, true, true), Install::Nothing);
    assert_eq!(
        install_for(Seccomp::Trap, false, false),
        Install::Filter {
            trap: true,
            set_no_new_privs: true
        }
    );
    assert_eq!(
        install_for(Seccomp::Vmwrite, false, true),
        Install::Filter {
            trap: false,
            set_no_new_privs: false
        }
    );
}

#[test]
fn the_setting_parses_with_a_safe_default() {
    use crate::config::Config;
    let parse = |v: &str| {
        let v = v.to_string();
        Config::from_lookup(move |k| (k == "JITGUARD_SECCOMP").then(|| v.clone()))
    };
    assert_eq!(parse("TRAP").0.seccomp, Seccomp::Trap);
    assert_eq!(parse("vmwrite").0.seccomp, Seccomp::Vmwrite);
    assert_eq!(Config::default().seccomp, Seccomp::Auto);
    let (c, w) = parse("on");
    assert_eq!(c.seccomp, Seccomp::Auto);
    assert!(w[0].0.contains("JITGUARD_SECCOMP=\"on\""), "{:?}", w);
}

#[test]
fn classify_names_the_trapped_calls() {
    assert_eq!(classify(9), Trapped::Mmap);
    assert_eq!(classify(329), Trapped::PkeyMprotect);
    assert_eq!(classify(-1), Trapped::Other);
    assert_eq!(classify(59), Trapped::Other);
}
