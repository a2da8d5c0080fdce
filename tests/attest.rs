//! Code attestation and the gadget scan (examples/tamper.c). Every
//! tampering scenario has two controls: without jitguard, and under
//! jitguard with `JITGUARD_ATTEST=off`, the changed code runs and the
//! process exits normally. With attestation on, the change is reported
//! (page, first differing chunk, writer, where it was found) and the
//! process dies: SIGSEGV when found before the page is opened again,
//! SIGABRT when found at exit or by the sweep.

mod common;

use common::*;

const LANDED: &str = "answer() = 1337";
const SIGSEGV: i32 = 11;
const SIGABRT: i32 = 6;

/// Both controls: the bypass lands silently.
fn controls(scenario: &str, phase: &str, backend: &str) {
    let bin = example("tamper");
    let got = stock(&bin, &[scenario, phase]);
    assert_eq!(got.code, Some(0), "stock {scenario}: {}", got.stderr);
    assert!(got.stdout.contains(LANDED), "stock: {}", got.stdout);
    let (got, stats) = guarded_with_stats(
        &bin,
        &[scenario, phase],
        backend,
        // The seccomp filter's vmwrite rule (on by default as root) would
        // refuse the process_vm_writev bypass itself: this is about what
        // attestation sees.
        &[("JITGUARD_ATTEST", "off"), ("JITGUARD_SECCOMP", "off")],
        &format!("attest-off-{scenario}-{phase}-{backend}"),
    );
    assert_eq!(got.code, Some(0), "attest off {scenario}: {}", got.stderr);
    assert!(got.stdout.contains(LANDED), "attest off: {}", got.stdout);
    assert!(!got.stderr.contains("tampered"), "{}", got.stderr);
    assert_eq!(stat(&stats, "tampered"), 0);
    assert_eq!(stat(&stats, "attested_pages"), 0);
}

/// Attestation catches the bypass where `found` says, killed by `signal`.
fn caught(scenario: &str, phase: &str, backend: &str, attest: &str, found: &str, signal: i32) {
    controls(scenario, phase, backend);
    let (got, stats) = guarded_with_stats(
        &example("tamper"),
        &[scenario, phase],
        backend,
        &[("JITGUARD_ATTEST", attest), ("JITGUARD_SECCOMP", "off")],
        &format!("attest-{scenario}-{phase}-{backend}"),
    );
    let line = got
        .stderr
        .lines()
        .find(|l| l.starts_with("jitguard: tampered code: page 0x"))
        .unwrap_or_else(|| panic!("{scenario}/{phase} on {backend}: no report: {}", got.stderr));
    assert!(line.contains(found), "{line}");
    // The immediate at offset 1 is in the first 64-byte chunk.
    assert!(line.contains("first difference at +0x0"), "{line}");
    assert!(line.contains("last trusted writer "), "{line}");
    assert!(line.ends_with("; killed"), "{line}");
    if backend == "pkey" {
        assert!(line.contains("(key "), "{line}");
    }
    assert_eq!(
        got.stderr.matches("tampered code").count(),
        1,
        "one line: {}",
        got.stderr
    );
    assert_eq!(
        got.signal,
        Some(signal),
        "{scenario}/{phase}: {}",
        got.stderr
    );
    if phase.ends_with("open") {
        // Killed before the re-emit could run.
        assert!(!got.stdout.contains("re-emitted"), "{}", got.stdout);
    }
    if phase == "sleep" {
        assert!(!got.stdout.contains("slept"), "{}", got.stdout);
    }
    if signal == SIGABRT && phase == "exit" {
        assert!(stat(&stats, "tampered") >= 1);
        assert!(stat(&stats, "attest_checks") >= 1);
        assert!(stat(&stats, "attested_pages") >= 1);
    }
}

#[test]
fn the_default_is_open_under_mprotect_and_off_under_pkey() {
    for b in backends() {
        let (got, stats) = guarded_with_stats(
            &example("tamper"),
            &["procmem", "exit"],
            b,
            &[],
            &format!("attest-default-{b}"),
        );
        let want = if b == "pkey" { "off" } else { "open" };
        assert_eq!(stat_text(&stats, "attest"), want, "{}", got.stderr);
        if b == "mprotect" {
            assert_eq!(got.signal, Some(SIGABRT), "{}", got.stderr);
        } else {
            assert_eq!(got.code, Some(0), "{}", got.stderr);
        }
    }
}

#[test]
fn proc_self_mem_write_is_caught_before_the_page_opens_again() {
    for b in backends() {
        caught(
            "procmem",
            "open",
            b,
            "open",
            "found before opening it",
            SIGSEGV,
        );
    }
}

/// The same when the re-emit is a REP string store, which jitguard's REP
/// emulation completes: its check runs before it opens the pages.
#[test]
fn proc_self_mem_write_is_caught_before_a_rep_store_opens_the_page() {
    for b in backends() {
        caught(
            "procmem",
            "rep-open",
            b,
            "open",
            "found before opening it",
            SIGSEGV,
        );
    }
}

#[test]
fn proc_self_mem_write_is_caught_at_exit() {
    for b in backends() {
        caught("procmem", "exit", b, "open", "found at exit", SIGABRT);
    }
}

#[test]
fn proc_self_mem_write_is_caught_by_the_sweep() {
    for b in backends() {
        caught("procmem", "sleep", b, "100", "found by the sweep", SIGABRT);
    }
}

#[test]
fn a_second_mapping_of_the_same_memfd_is_caught() {
    for b in backends() {
        caught("alias", "exit", b, "open", "found at exit", SIGABRT);
    }
}

#[test]
fn process_vm_writev_from_a_child_is_caught_under_pkey() {
    // Page-table permissions stop a foreign write (the page is not
    // writable); a protection key does not: the kernel ignores the
    // target's PKRU.
    if !wanted("pkey") || !need_pku("process_vm_writev_from_a_child_is_caught_under_pkey") {
        return;
    }
    caught("vmwrite", "exit", "pkey", "open", "found at exit", SIGABRT);
}

#[test]
fn audit_mode_counts_and_lets_the_process_go_on() {
    for b in backends() {
        let (got, stats) = guarded_with_stats(
            &example("tamper"),
            &["procmem", "open"],
            b,
            &[("JITGUARD_MODE", "audit"), ("JITGUARD_ATTEST", "open")],
            &format!("attest-audit-{b}"),
        );
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(got.stdout.contains("re-emitted"), "{}", got.stdout);
        assert!(got.stderr.contains("(audit: allowed)"), "{}", got.stderr);
        assert_eq!(stat(&stats, "tampered"), 1, "{}", got.stderr);
    }
}

#[test]
fn legitimate_changes_keep_the_records_true() {
    let bin = example("tamper");
    let want = stock(&bin, &["legit"]);
    assert_eq!(want.code, Some(0));
    for b in backends() {
        // A 1 ms sweep races the two emitting threads for 0.3 s.
        for attest in ["open", "1"] {
            let (got, stats) = guarded_with_stats(
                &bin,
                &["legit"],
                b,
                &[("JITGUARD_ATTEST", attest)],
                &format!("attest-legit-{attest}-{b}"),
            );
            assert_eq!(got.stdout, want.stdout, "{b}/{attest}: {}", got.stderr);
            assert_eq!(got.code, Some(0), "{b}/{attest}: {}", got.stderr);
            assert!(!got.stderr.contains("tampered"), "{}", got.stderr);
            assert_eq!(stat(&stats, "tampered"), 0);
            assert!(stat(&stats, "attested_pages") > 0);
            assert!(stat(&stats, "attest_checks") > 0);
            assert_eq!(stat_text(&stats, "attest"), attest);
        }
    }
}

#[test]
fn a_wrpkru_written_by_a_trusted_writer_is_reported() {
    let bin = example("tamper");
    let want = stock(&bin, &["gadget"]);
    assert!(want.stdout.contains("gadget() = 0xef010f90"));
    for b in backends() {
        let (got, stats) = guarded_with_stats(&bin, &["gadget"], b, &[], &format!("gadget-{b}"));
        assert_eq!(
            (got.stdout.as_str(), got.code),
            (want.stdout.as_str(), Some(0))
        );
        let line = got
            .stderr
            .lines()
            .find(|l| l.starts_with("jitguard: gadget WRPKRU written at 0x"))
            .unwrap_or_else(|| panic!("{b}: {}", got.stderr));
        assert!(line.contains("offset 0x2) by "), "{line}");
        // With attestation (mprotect's default) a page is scanned when its
        // record changes: once. Without it (pkey's default) at every
        // reseal of the page: once per window that wrote it.
        if b == "pkey" {
            assert!(stat(&stats, "gadgets") >= 1);
        } else {
            assert_eq!(stat(&stats, "gadgets"), 1);
        }
        // Control: the scan off, nothing said.
        let (got, stats) = guarded_with_stats(
            &bin,
            &["gadget"],
            b,
            &[("JITGUARD_GADGETS", "off")],
            &format!("gadget-off-{b}"),
        );
        assert_eq!(got.code, Some(0));
        assert!(!got.stderr.contains("gadget"), "{}", got.stderr);
        assert_eq!(stat(&stats, "gadgets"), 0);
        // Deny: killed at the reseal, before the code could run.
        let got = guarded(
            &bin,
            &["gadget"],
            &[("JITGUARD_BACKEND", b), ("JITGUARD_GADGETS", "deny")],
        );
        assert_eq!(got.signal, Some(SIGABRT), "{}", got.stderr);
        assert!(
            got.stderr.contains("JITGUARD_GADGETS=deny: killed"),
            "{}",
            got.stderr
        );
        assert!(!got.stdout.contains("gadget() ="), "{}", got.stdout);
        // Deny in audit mode reports only.
        let got = guarded(
            &bin,
            &["gadget"],
            &[
                ("JITGUARD_BACKEND", b),
                ("JITGUARD_GADGETS", "deny"),
                ("JITGUARD_MODE", "audit"),
            ],
        );
        assert_eq!(got.code, Some(0), "{}", got.stderr);
    }
}

#[test]
fn a_wrpkru_straddling_two_pages_and_two_emits_is_seen() {
    let bin = example("tamper");
    for b in backends() {
        let (got, stats) =
            guarded_with_stats(&bin, &["gadget-edge"], b, &[], &format!("gadget-edge-{b}"));
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        let line = got
            .stderr
            .lines()
            .find(|l| l.starts_with("jitguard: gadget WRPKRU"))
            .unwrap_or_else(|| panic!("{b}: {}", got.stderr));
        assert!(line.contains("offset 0xfff)"), "{line}");
        assert_eq!(stat(&stats, "gadgets"), 1, "{}", got.stderr);
    }
}

#[test]
fn start_up_counts_the_wrpkru_of_loaded_modules() {
    // libjitguard itself writes PKRU; glibc has pkey_set's WRPKRU.
    let (got, stats) = guarded_with_stats(
        &example("tamper"),
        &["gadget"],
        "mprotect",
        &[],
        "gadget-startup",
    );
    assert_eq!(got.code, Some(0), "{}", got.stderr);
    assert!(stat(&stats, "startup_wrpkru") >= 2);
    let list = stat_text(&stats, "startup_gadgets");
    assert!(list.contains("libjitguard.so+0x"), "{list}");
    assert!(list.contains("libc.so.6+0x"), "{list}");
    // `jitguard check` says so.
    let out = std::process::Command::new(cli())
        .arg("check")
        .env("JITGUARD_LIB", lib())
        .env("JITGUARD_CONFIG", "/dev/null")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("WRPKRU gadgets:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("libc.so.6+0x"), "{line}");
}
