//! Raw system calls and PKRU tampering (examples/raw_syscalls.c): each
//! scenario runs without jitguard (the control: the attack lands), under
//! jitguard without its seccomp filter where that shows the hole, and with
//! `JITGUARD_SECCOMP=trap` (or `vmwrite`), where it must be refused,
//! re-guarded or detected. Enforced runs use the profile learned from the
//! benign run, so a rogue write that reaches a sealed page is denied.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const ROGUE: &str = "answer() = 1337";

fn bin() -> PathBuf {
    example("raw_syscalls")
}

/// The benign run's profile on `backend` (trap mode, so raw-mapped code
/// is guarded and its writer learned too).
fn learn(backend: &str, test: &str) -> PathBuf {
    let profile = tmp(&format!("raw-{test}-{backend}.profile"));
    let _ = std::fs::remove_file(&profile);
    let got = guarded(
        &bin(),
        &["benign"],
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_MODE", "learn"),
            ("JITGUARD_SECCOMP", "trap"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0), "learn run: {}", got.stderr);
    let text = std::fs::read_to_string(&profile).expect("learn mode wrote the profile");
    assert!(text.contains("emit_code"), "{text}");
    assert!(!text.contains("rogue"), "{text}");
    profile
}

/// One run under jitguard enforcing `profile`, with `seccomp` and extra
/// environment; returns the run and its stats path.
fn run(
    backend: &str,
    scenario: &str,
    seccomp: &str,
    profile: &Path,
    extra: &[(&str, &str)],
) -> (Run, PathBuf) {
    let mut env = vec![
        ("JITGUARD_SECCOMP", seccomp),
        ("JITGUARD_PROFILE", profile.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    guarded_with_stats(
        &bin(),
        &[scenario],
        backend,
        &env,
        &format!("raw-{scenario}-{backend}-{seccomp}"),
    )
}

/// Without jitguard the attack lands.
fn control(scenario: &str) -> Run {
    let got = stock(&bin(), &[scenario]);
    assert_eq!(got.code, Some(0), "{scenario}: {}", got.stderr);
    assert!(
        got.stdout.contains(ROGUE),
        "control {scenario}: {}",
        got.stdout
    );
    got
}

/// Refused: one denial report, SIGSEGV, the rogue code never ran.
fn assert_denied(got: &Run, what: &str) {
    assert_eq!(
        got.signal,
        Some(11),
        "{what}: {}\n{}",
        got.stdout,
        got.stderr
    );
    assert!(!got.stdout.contains(ROGUE), "{what}: {}", got.stdout);
    assert!(
        got.stderr.contains("jitguard: denied write at "),
        "{what}: {}",
        got.stderr
    );
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in {out}"))
}

#[test]
fn raw_mmap_of_rwx_memory_is_guarded_with_the_filter() {
    control("mmap-rwx");
    for backend in backends() {
        let profile = learn(backend, "mmap");
        // The hole: raw W+X memory is never seen by the hooks.
        let (open, _) = run(backend, "mmap-rwx", "off", &profile, &[]);
        assert!(open.stdout.contains(ROGUE), "{backend}: {}", open.stdout);
        let (got, _) = run(backend, "mmap-rwx", "trap", &profile, &[]);
        if backend == "pkey" {
            let key: i32 = line(&got.stdout, "key: ").parse().unwrap();
            assert!(key > 0, "raw mmap'd code keyed by jitguard: {}", got.stdout);
        } else {
            assert_eq!(line(&got.stdout, "perms: "), "r-xp", "{}", got.stdout);
        }
        assert_denied(&got, &format!("mmap-rwx on {backend}"));
    }
}

#[test]
fn raw_pkey_mprotect_to_key_0_is_rekeyed_with_the_filter() {
    if !need_pku("raw_pkey_mprotect_to_key_0_is_rekeyed_with_the_filter") || !wanted("pkey") {
        return;
    }
    control("pkey-mprotect");
    let profile = learn("pkey", "pkey-mprotect");
    let (open, _) = run("pkey", "pkey-mprotect", "off", &profile, &[]);
    assert_eq!(line(&open.stdout, "key: "), "0", "{}", open.stdout);
    assert!(open.stdout.contains(ROGUE), "the hole: {}", open.stdout);
    let (got, _) = run("pkey", "pkey-mprotect", "trap", &profile, &[]);
    // The program sees what jitguard's pkey_mprotect() hook gives: success,
    // and the page stays under jitguard's key.
    assert_eq!(line(&got.stdout, "pkey_mprotect: "), "0 (ok)");
    let key: i32 = line(&got.stdout, "key: ").parse().unwrap();
    assert!(key > 0, "{}", got.stdout);
    assert_denied(&got, "pkey-mprotect");
}

#[test]
fn raw_mprotect_rwx_is_resealed_with_the_filter() {
    if !wanted("mprotect") {
        return;
    }
    control("mprotect-rwx");
    let profile = learn("mprotect", "mprotect-rwx");
    let (open, _) = run("mprotect", "mprotect-rwx", "off", &profile, &[]);
    assert_eq!(line(&open.stdout, "perms: "), "rwxp", "{}", open.stdout);
    assert!(open.stdout.contains(ROGUE), "the hole: {}", open.stdout);
    let (got, _) = run("mprotect", "mprotect-rwx", "trap", &profile, &[]);
    assert_eq!(line(&got.stdout, "mprotect: "), "0 (ok)");
    assert_eq!(line(&got.stdout, "perms: "), "r-xp", "{}", got.stdout);
    assert_denied(&got, "mprotect-rwx");
}

#[test]
fn process_vm_writev_into_the_own_process_fails_with_the_filter() {
    control("vmwrite");
    control("vmwrite-tid");
    for backend in backends() {
        let profile = learn(backend, "vmwrite");
        let (open, _) = run(backend, "vmwrite", "off", &profile, &[]);
        if backend == "pkey" {
            // The kernel's remote access ignores PKRU.
            assert!(open.stdout.contains(ROGUE), "the hole: {}", open.stdout);
        }
        if backend == "pkey" {
            // vmwrite rules compare the pid only: another thread's id
            // reaches the same memory (documented in SECURITY.md).
            let (tid, _) = run(backend, "vmwrite-tid", "vmwrite", &profile, &[]);
            assert!(tid.stdout.contains(ROGUE), "{}", tid.stdout);
        }
        for (scenario, seccomp) in [
            ("vmwrite", "vmwrite"),
            ("vmwrite", "trap"),
            ("vmwrite-tid", "trap"),
        ] {
            let (got, _) = run(backend, scenario, seccomp, &profile, &[]);
            let what = format!("{scenario} {seccomp} on {backend}");
            assert_eq!(got.code, Some(0), "{what}: {}", got.stderr);
            assert_eq!(
                line(&got.stdout, "process_vm_writev: "),
                "-1 (Operation not permitted)",
                "{what}"
            );
            assert!(
                got.stdout.contains("answer() = 42"),
                "{what}: {}",
                got.stdout
            );
            // By pid the filter refuses it (no report); by a thread id the
            // trap's handler does, with a report.
            if scenario == "vmwrite-tid" {
                assert!(
                    got.stderr
                        .contains("jitguard: refused process_vm_writev into this process"),
                    "{what}: {}",
                    got.stderr
                );
            }
        }
    }
}

#[test]
fn benign_runs_are_unchanged_by_the_filter() {
    let want = stock(&bin(), &["benign"]);
    assert_eq!(want.code, Some(0));
    for backend in backends() {
        let profile = learn(backend, "benign");
        let (got, stats) = run(backend, "benign", "trap", &profile, &[]);
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}");
        assert!(
            stat(&stats, "seccomp_traps") >= 1,
            "the raw mmap was trapped"
        );
        assert_eq!(stat(&stats, "pkru_tampered"), 0);
        assert_eq!(stat(&stats, "denials"), 0);
    }
}

#[test]
fn traps_are_delivered_while_the_program_blocks_every_signal() {
    // A trap while SIGSYS is blocked kills the process: jitguard keeps it
    // (and the fault signals) out of every real mask, sigprocmask's and
    // handlers' sa_mask alike.
    let want = stock(&bin(), &["blocked"]);
    assert!(
        want.stdout.contains("with every signal blocked: 8"),
        "{}",
        want.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "blocked");
        let (got, stats) = run(backend, "blocked", "trap", &profile, &[]);
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}");
        assert!(stat(&stats, "seccomp_traps") >= 2);
    }
}

/// A forged or gadget-opened PKRU: the rogue store lands (nothing in user
/// space can stop a store the CPU allows), and the next entry into
/// jitguard reports it and, in enforce mode, ends the process.
fn detected(scenario: &str, found: &str) {
    if !need_pku(scenario) || !wanted("pkey") {
        return;
    }
    let c = control(scenario);
    assert!(
        c.stdout.contains(": 0\n"),
        "control: PKRU 0 after the attack: {}",
        c.stdout
    );
    let profile = learn("pkey", scenario);
    let (got, _) = run("pkey", scenario, "off", &profile, &[]);
    assert_eq!(
        got.signal,
        Some(11),
        "{scenario}: {}\n{}",
        got.stdout,
        got.stderr
    );
    assert!(!got.stdout.contains("after entry"), "{}", got.stdout);
    let report = line(&got.stderr, "jitguard: PKRU tampered in thread ");
    assert!(
        report.contains("write-enabled outside any window"),
        "{report}"
    );
    assert!(report.contains(found), "{report}");
    // Audit mode counts and reseals: the thread's next rogue store faults
    // again and is reported as an audited write.
    let (audit, stats) = run(
        "pkey",
        scenario,
        "off",
        &profile,
        &[("JITGUARD_MODE", "audit")],
    );
    assert_eq!(audit.code, Some(0), "{scenario} audit: {}", audit.stderr);
    assert!(stat(&stats, "pkru_tampered") >= 1);
    assert!(audit.stderr.contains("resealed"), "{}", audit.stderr);
    assert!(
        audit.stderr.contains("jitguard: audited write at "),
        "{}",
        audit.stderr
    );
}

#[test]
fn a_wrpkru_gadget_is_detected_at_the_next_entry() {
    detected("gadget", "found entering mmap");
}

#[test]
fn a_forged_sigreturn_with_pkru_0_is_detected() {
    detected("sigreturn-pkru0", "found entering mmap");
}

#[test]
fn a_forged_sigreturn_with_xstate_bv_cleared_is_detected() {
    detected("sigreturn-xstate", "found entering mmap");
}

#[test]
fn a_frame_forged_by_a_handler_jitguard_chained_to_is_caught_on_return() {
    detected(
        "sigreturn-segv",
        "after the program's handler for signal 11",
    );
}

#[test]
fn exec_under_the_filter_behaves_as_documented() {
    let want = stock(&bin(), &["exec"]);
    assert!(
        want.stdout
            .contains("child: process_vm_writev into itself: 8 (ok)"),
        "{}",
        want.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "exec");
        // Trap mode refuses exec: the program learns it from errno.
        let (got, _) = run(backend, "exec", "trap", &profile, &[]);
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(
            got.stdout.contains("exec failed: Operation not permitted"),
            "{}",
            got.stdout
        );
        // vmwrite mode lets it run, without jitguard: the filter stays (the
        // same pid), so the child's write into itself fails; nothing kills it.
        let (got, _) = run(backend, "exec", "vmwrite", &profile, &[]);
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(
            got.stdout.contains(
                "child: process_vm_writev into itself: -1 (Operation not permitted), buffer before"
            ),
            "{}",
            got.stdout
        );
        // system() (posix_spawn) in trap mode: the shell cannot be exec'd,
        // the spawned child exits 127.
        let (got, _) = run(backend, "spawn", "trap", &profile, &[]);
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(got.stdout.contains("system: 32512"), "{}", got.stdout);
        assert!(!got.stdout.contains("spawned"), "{}", got.stdout);
        // Off: as without jitguard.
        let (got, _) = run(backend, "exec", "off", &profile, &[]);
        assert!(got.stdout.contains("into itself: 8 (ok)"), "{}", got.stdout);
    }
}

#[test]
fn a_fork_child_keeps_the_filter_and_its_handler() {
    let c = stock(&bin(), &["fork"]);
    assert!(
        c.stdout.contains("child: answer() = 1337"),
        "control: {}",
        c.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "fork");
        let (got, _) = run(backend, "fork", "trap", &profile, &[]);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        // The child's raw W+X memory was guarded through the inherited
        // handler and gate, and its rogue store denied.
        assert!(
            got.stdout.contains("child died by signal 11"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(!got.stdout.contains(ROGUE), "{}", got.stdout);
        if backend == "mprotect" {
            assert!(got.stdout.contains("child perms: r-xp"), "{}", got.stdout);
        }
    }
}

#[test]
fn read_implies_exec_by_a_raw_call_is_refused_in_trap_mode() {
    // personality(READ_IMPLIES_EXEC) makes mmap(RW) give RWX memory that
    // neither the hooks nor the filter's prot rules see asked for. libc's
    // personality() is the alias guard's (tests/aliases.rs: the memory is
    // guarded as W+X); the raw call bypasses that hook.
    let c = stock(&bin(), &["personality-raw"]);
    assert_eq!(line(&c.stdout, "perms: "), "rwxp", "control: {}", c.stdout);
    for backend in backends() {
        let profile = learn(backend, "personality");
        // The raw call: the hole without the filter, refused with it.
        let (open, _) = run(backend, "personality-raw", "off", &profile, &[]);
        assert_eq!(line(&open.stdout, "perms: "), "rwxp", "the hole: {backend}");
        let (got, _) = run(backend, "personality-raw", "trap", &profile, &[]);
        assert_eq!(
            line(&got.stdout, "personality: "),
            "-1 (Operation not permitted)"
        );
        assert_eq!(line(&got.stdout, "perms: "), "rw-p", "{backend}");
    }
}
