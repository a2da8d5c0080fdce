//! The attack suite: rogue writes against code a trusted emitter wrote
//! (examples/attacks.c). Every scenario first runs without jitguard, and
//! must change the code that then runs there (the control: otherwise the
//! scenario proves nothing). Then it runs under jitguard, enforcing the
//! profile learned from the benign run, and must be refused: one
//! `jitguard: denied write` report naming the rogue writer, then SIGSEGV.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const ROGUE: &str = "answer() = 1337";

/// Learns the benign run's profile on `backend` into a file of the
/// calling test's own (tests run in parallel).
fn learn(backend: &str, test: &str) -> PathBuf {
    let bin = example("attacks");
    let profile = tmp(&format!("attacks-{test}-{backend}.profile"));
    let _ = std::fs::remove_file(&profile);
    let got = guarded(
        &bin,
        &["benign"],
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_MODE", "learn"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0), "learn run: {}", got.stderr);
    let text = std::fs::read_to_string(&profile).expect("learn mode wrote the profile");
    assert!(text.contains("emit_function"), "{text}");
    assert!(!text.contains("rogue"), "{text}");
    profile
}

fn enforce(backend: &str, profile: &Path, scenario: &str, name: &str) -> (Run, PathBuf) {
    guarded_with_stats(
        &example("attacks"),
        &[scenario],
        backend,
        &[("JITGUARD_PROFILE", profile.to_str().unwrap())],
        name,
    )
}

/// The control run: without jitguard the rogue write lands.
fn control(scenario: &str) {
    let got = stock(&example("attacks"), &[scenario]);
    assert_eq!(got.code, Some(0), "{scenario}: {}", got.stderr);
    if scenario == "window" {
        assert!(
            got.stdout.contains("open-page write landed: 1"),
            "control: {}",
            got.stdout
        );
    } else if scenario == "via-hook" {
        assert!(
            got.stdout.contains("code changed: yes"),
            "control: {}",
            got.stdout
        );
    } else if scenario == "race" {
        let landed: u64 = got
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("rogue stores landed: "))
            .and_then(|n| n.parse().ok())
            .expect("race prints its count");
        assert!(landed > 0, "control: {}", got.stdout);
    } else {
        assert!(got.stdout.contains(ROGUE), "control: {}", got.stdout);
    }
}

/// The guarded run: refused, reported with the rogue's name, killed.
fn refused(scenario: &str, rogue_symbol: &str, rogue_writer: &str) {
    control(scenario);
    for backend in backends() {
        let profile = learn(backend, scenario);
        let (got, stats) = enforce(
            backend,
            &profile,
            scenario,
            &format!("attack-{scenario}-{backend}"),
        );
        assert_eq!(
            got.signal,
            Some(11),
            "{scenario} on {backend} must die by SIGSEGV: {}",
            got.stderr
        );
        assert!(
            !got.stdout.contains(ROGUE),
            "{scenario} on {backend}: {}",
            got.stdout
        );
        let report: Vec<&str> = got
            .stderr
            .lines()
            .filter(|l| l.starts_with("jitguard: denied write at "))
            .collect();
        assert_eq!(report.len(), 1, "{scenario} on {backend}: {}", got.stderr);
        let r = report[0];
        for part in [
            "(page 0x",
            "by thread ",
            rogue_symbol,
            rogue_writer,
            "writer profile: file:",
        ] {
            assert!(
                r.contains(part),
                "{scenario} on {backend}: `{part}` missing in {r}"
            );
        }
        if backend == "pkey" {
            assert!(r.contains(", key "), "{r}");
        }
        // The process died in the handler's report path: no stats file is
        // written by a killed process, so none is expected.
        let _ = stats;
    }
}

#[test]
fn the_benign_run_passes_under_its_own_profile() {
    let bin = example("attacks");
    let want = stock(&bin, &["benign"]);
    for backend in backends() {
        let profile = learn(backend, &format!("{}", line!()));
        let (got, stats) = enforce(
            backend,
            &profile,
            "benign",
            &format!("attack-benign-{backend}"),
        );
        assert_eq!(
            (got.code, &got.stdout),
            (Some(0), &want.stdout),
            "{}",
            got.stderr
        );
        assert!(
            !got.stderr.contains("jitguard:"),
            "no notice, no report: {}",
            got.stderr
        );
        assert_eq!(stat(&stats, "denials"), 0);
        assert!(stat(&stats, "write_faults") > 100);
        assert!(stat_text(&stats, "writer_profile").starts_with("file:"));
    }
}

#[test]
fn a_rogue_write_from_another_thread_is_refused() {
    refused(
        "other-thread",
        "callers: rogue_thread",
        "writer rogue_store",
    );
}

#[test]
fn a_rogue_write_from_a_non_emitter_in_the_emitting_thread_is_refused() {
    refused("same-thread", "callers: main", "writer rogue_store");
}

#[test]
fn a_callee_of_an_emitter_mid_emit_is_refused() {
    // The report's caller chain runs through the emitter, whose return
    // address jitguard redirected to its reseal trampoline, to main.
    // (The callback is a tail call to rogue_store: the emitter is its
    // caller in the report.)
    refused(
        "callback",
        "writer rogue_store",
        "callers: emit_with_callback",
    );
    refused("callback", "writer rogue_store", ") <- main+");
}

#[test]
fn a_writer_left_by_setcontext_leaves_nothing_open() {
    refused("setcontext", "writer rogue_store", "callers: main");
}

#[test]
fn a_writer_ended_by_pthread_exit_leaves_nothing_open() {
    refused("pthread-exit", "writer rogue_store", "callers: main");
}

#[test]
fn a_thread_created_mid_emit_inherits_no_open_window() {
    refused("thread-in-window", "writer rogue_store", "late_writer");
}

#[test]
fn a_writer_left_by_longjmp_leaves_nothing_open() {
    refused("after-longjmp", "callers: main", "writer rogue_store");
}

#[test]
fn a_rogue_memcpy_is_judged_by_its_caller() {
    // The emitter also writes through libc's memcpy: the same instruction
    // in libc is allowed for emit_function and refused for rogue_memcpy.
    refused("memcpy", "callers: rogue_memcpy", "writer libc.so.6+0x");
}

#[test]
fn a_signal_handler_cannot_ride_an_open_emit_window() {
    refused("window", "callers: on_alarm", "writer rogue_store");
}

#[test]
fn a_rogue_thread_racing_the_emitter_is_refused() {
    // Under pkey the rogue thread's own PKRU keeps the page sealed however
    // the emits interleave. Under mprotect a page opened for an emit is
    // writable by every thread until its reseal (SECURITY.md), so rogue
    // stores can land inside that window; the first one outside is caught.
    refused("race", "callers: race_rogue", "writer rogue_store");
}

#[test]
fn jitguards_own_hooks_lend_no_trust() {
    // sigaction(..., old) with `old` in the code page: the store is made
    // by jitguard's hook, and jitguard trusts only its REP emulation.
    refused("via-hook", "callers: main", "writer __libc_sigaction");
}

#[test]
fn audit_mode_reports_and_allows() {
    for backend in backends() {
        let profile = learn(backend, &format!("{}", line!()));
        let (got, stats) = guarded_with_stats(
            &example("attacks"),
            &["same-thread"],
            backend,
            &[
                ("JITGUARD_PROFILE", profile.to_str().unwrap()),
                ("JITGUARD_MODE", "audit"),
            ],
            &format!("attack-audit-{backend}"),
        );
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(got.stdout.contains(ROGUE), "audit allows: {}", got.stdout);
        assert!(
            got.stderr.contains("jitguard: audited write at "),
            "{}",
            got.stderr
        );
        assert!(got.stderr.contains("rogue_store"), "{}", got.stderr);
        assert_eq!(stat(&stats, "audited"), 1);
        assert_eq!(stat(&stats, "denials"), 0);
    }
}

#[test]
fn without_a_profile_writes_are_allowed_and_the_run_says_so() {
    for backend in backends() {
        let (got, stats) = guarded_with_stats(
            &example("attacks"),
            &["same-thread"],
            backend,
            &[],
            &format!("attack-noprofile-{backend}"),
        );
        assert_eq!(got.code, Some(0), "{}", got.stderr);
        assert!(got.stdout.contains(ROGUE));
        let notices: Vec<&str> = got
            .stderr
            .lines()
            .filter(|l| l.contains("notice: no writer profile"))
            .collect();
        assert_eq!(notices.len(), 1, "{}", got.stderr);
        assert!(notices[0].contains("not authenticated"));
        assert_eq!(stat_text(&stats, "writer_profile"), "none");
    }
}

#[test]
fn a_profile_learned_on_another_build_allows_nothing() {
    // Same source, another build: a different build id, so the learned
    // offsets mean nothing and the profile says so instead of misfiring.
    std::fs::create_dir_all(tmp("O1")).unwrap();
    let other = example_with("attacks", "O1/attacks", &["-O1"]);
    for backend in backends() {
        let profile = learn(backend, &format!("{}", line!()));
        let got = guarded(
            &other,
            &["benign"],
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ],
        );
        assert_eq!(got.signal, Some(11), "{}", got.stderr);
        assert!(
            got.stderr
                .contains("profile sites for attacks ignored: learned on build"),
            "{}",
            got.stderr
        );
    }
}

#[test]
fn a_bad_profile_is_one_clear_line_and_not_a_crash() {
    let bad = tmp("bad.profile");
    std::fs::write(&bad, "site nowhere\n").unwrap();
    let got = guarded(
        &example("attacks"),
        &["benign"],
        &[("JITGUARD_PROFILE", bad.to_str().unwrap())],
    );
    assert_eq!(got.code, Some(0), "{}", got.stderr);
    let errors: Vec<&str> = got
        .stderr
        .lines()
        .filter(|l| l.contains("JITGUARD_PROFILE="))
        .collect();
    assert_eq!(errors.len(), 1, "{}", got.stderr);
    assert!(errors[0].contains("line 1"), "{}", errors[0]);
}

#[test]
fn a_misaligned_call_to_a_trusted_writer_reseals_without_crashing() {
    // Regression: the reseal trampoline assumed the ABI's 16-byte stack
    // alignment at the writer's return, and the Rust code it calls uses
    // aligned SSE stores: a caller 8 bytes off (GCC -O2 calling a
    // same-unit function) died by SIGSEGV with no report.
    let want = stock(&example("attacks"), &["misaligned"]);
    assert_eq!(want.code, Some(0), "{want:?}");
    for backend in backends() {
        let profile = learn(backend, "misaligned");
        let name = format!("attack-misaligned-{backend}");
        let (got, stats) = enforce(backend, &profile, "misaligned", &name);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        assert_eq!(got.stdout, want.stdout, "{backend}");
        assert!(
            stat(&stats, "call_windows") > 0,
            "{backend}: no call window"
        );
    }
}
