//! Configuration through the environment: bad values get one clear line and
//! a safe default, never a crash; the CLI works.

mod common;
use common::*;
use std::process::Command;

#[test]
fn bad_values_get_one_line_each_and_the_program_runs() {
    let bin = example("toyjit");
    let want = stock(&bin, &["--funcs", "50"]);
    let stats = tmp("badenv.json");
    let got = guarded(
        &bin,
        &["--funcs", "50"],
        &[
            ("JITGUARD_MODE", "enforcing"),
            ("JITGUARD_POLICY", "random"),
            ("JITGUARD_BACKEND", "mpk"),
            ("JITGUARD_LOG", "chatty"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.stdout, want.stdout);
    assert_eq!(got.code, Some(0));
    // One line per bad value, besides the notice that toyjit has no
    // writer profile (tests/attacks.rs covers that line).
    let lines: Vec<_> = got
        .stderr
        .lines()
        .filter(|l| !l.contains("notice: no writer profile"))
        .collect();
    assert_eq!(lines.len(), 4, "{}", got.stderr);
    for (var, accepted) in [
        ("JITGUARD_MODE", "enforce, audit, learn, off"),
        ("JITGUARD_POLICY", "hashed, single"),
        ("JITGUARD_BACKEND", "auto, pkey, mprotect"),
        ("JITGUARD_LOG", "off, error, warn, info, debug, trace"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(var) && l.contains(accepted)),
            "{var}: {}",
            got.stderr
        );
    }
    // Safe default: still enforcing, still guarding.
    assert_eq!(stat_text(&stats, "mode"), "enforce");
    assert!(stat(&stats, "write_faults") >= 50);
}

#[test]
fn pkey_requested_without_pku_says_so_and_falls_back() {
    if cpu_has_pku() {
        eprintln!("SKIPPED pkey_requested_without_pku_says_so_and_falls_back: this CPU has PKU");
        return;
    }
    let bin = example("toyjit");
    let stats = tmp("pkey-fallback.json");
    let got = guarded(
        &bin,
        &["--funcs", "20"],
        &[
            ("JITGUARD_BACKEND", "pkey"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0));
    let lines = got
        .stderr
        .lines()
        .filter(|l| !l.contains("notice: no writer profile"));
    assert_eq!(lines.count(), 1, "{}", got.stderr);
    assert!(got.stderr.contains("no protection keys") && got.stderr.contains("mprotect"));
    assert_eq!(stat_text(&stats, "backend"), "mprotect");
}

#[test]
fn mode_off_guards_nothing() {
    let bin = example("toyjit");
    let stats = tmp("off.json");
    let _ = std::fs::remove_file(&stats);
    let got = guarded(
        &bin,
        &["--funcs", "20"],
        &[
            ("JITGUARD_MODE", "off"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0));
    assert!(got.stderr.is_empty(), "{}", got.stderr);
    assert!(!stats.exists(), "off writes no stats");
}

#[test]
fn cli_help_and_errors() {
    for args in [
        &["--help"][..],
        &["run", "--help"][..],
        &["check", "--help"][..],
    ] {
        let o = Command::new(cli()).args(args).output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("USAGE"));
    }
    let o = Command::new(cli())
        .args(["run", "--policy", "nope", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hashed, single"));
}

#[test]
fn cli_check_names_a_backend() {
    let o = Command::new(cli()).arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    let want = if cpu_has_pku() {
        "backend:         pkey"
    } else {
        "backend:         mprotect"
    };
    assert!(out.contains(want), "{out}");
}

#[test]
fn cli_run_preloads_and_passes_the_exit_status() {
    let bin = example("toyjit");
    let stats = tmp("cli-run.json");
    let o = Command::new(cli())
        .args([
            "run",
            "--stats",
            stats.to_str().unwrap(),
            "--",
            bin.to_str().unwrap(),
            "--funcs",
            "30",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stat(&stats, "write_faults") >= 30);
    let o = Command::new(cli())
        .args(["run", "--", bin.to_str().unwrap(), "--bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "the program's own exit status");
}
