//! Profiles per region (issue 15): each guarded region is judged by the
//! profile of the runtime whose call created it, so several profiles apply
//! side by side in one process, and a profile for one library no longer
//! judges (and kills) another JIT in the same process.
//!
//! examples/two_jits.c has a toy JIT of its own (judged by a given
//! profile, `symbol emit`) and PCRE2's JIT (judged by the built-in
//! `pcre2-jit`); a rogue store into either is denied by that region's own
//! profile. QEMU (tests/runtimes.rs runs its workloads) is enforced by
//! `qemu-tcg` beside `pcre2-jit`; examples/rogue_thread.c, preloaded into
//! it, stores into QEMU's code buffer from outside QEMU and is denied.
//! Every attack has its control: the same store lands without jitguard.

mod common;
use common::*;
use std::path::PathBuf;

const SIGSEGV: i32 = 11;

fn two_jits(test: &str) -> Option<PathBuf> {
    let bin = example("two_jits");
    if stock(&bin, &["benign"]).code == Some(77) {
        eprintln!("SKIPPED {test}: no libpcre2-8 on this machine (Debian's libpcre2-8-0)");
        return None;
    }
    Some(bin)
}

/// The program's own profile: its emitter, by name.
fn toy_profile() -> PathBuf {
    let p = tmp("two_jits.profile");
    std::fs::write(&p, "# jitguard writer profile 1\nsymbol emit\n").unwrap();
    p
}

#[test]
fn control_rogue_stores_change_both_jits_code() {
    let Some(bin) = two_jits("control_rogue_stores_change_both_jits_code") else {
        return;
    };
    for mode in ["rogue-toy", "rogue-pcre2"] {
        let run = stock(&bin, &[mode]);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert!(run.stdout.contains("code changed: yes"), "{mode}: {run:?}");
    }
}

#[test]
fn two_jits_each_enforced_by_its_own_profile_with_no_denial() {
    let Some(bin) = two_jits("two_jits_each_enforced_by_its_own_profile_with_no_denial") else {
        return;
    };
    let profile = toy_profile();
    let want = stock(&bin, &["benign"]);
    for backend in backends() {
        let (got, stats) = guarded_with_stats(
            &bin,
            &["benign"],
            backend,
            &[("JITGUARD_PROFILE", profile.to_str().unwrap())],
            &format!("two-jits-{backend}"),
        );
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        // Before regions had profiles, the given profile judged PCRE2's
        // writes too, and denied them.
        assert_eq!(
            stat_text(&stats, "writer_profile"),
            format!("file:{},builtin:pcre2-jit", profile.display())
        );
        assert_eq!(stat(&stats, "regions"), 2, "{backend}");
        assert!(stat(&stats, "write_faults") > 2, "{backend}");
        assert_eq!(stat(&stats, "denials"), 0, "{backend}: {}", got.stderr);
        assert!(!got.stderr.contains("notice"), "{backend}: {}", got.stderr);
    }
}

#[test]
fn rogue_store_into_each_jit_is_denied_by_that_jits_profile() {
    let Some(bin) = two_jits("rogue_store_into_each_jit_is_denied_by_that_jits_profile") else {
        return;
    };
    let profile = toy_profile();
    let file = format!("writer profile: file:{}", profile.display());
    for backend in backends() {
        for (mode, judge) in [
            ("rogue-toy", file.as_str()),
            ("rogue-pcre2", "writer profile: builtin:pcre2-jit"),
        ] {
            let got = guarded(
                &bin,
                &[mode],
                &[
                    ("JITGUARD_BACKEND", backend),
                    ("JITGUARD_PROFILE", profile.to_str().unwrap()),
                ],
            );
            assert_eq!(got.signal, Some(SIGSEGV), "{backend} {mode}: {got:?}");
            assert!(!got.stdout.contains("code changed"), "{backend} {mode}");
            assert!(
                got.stderr.contains("jitguard: denied write")
                    && got.stderr.contains("writer rogue_store+")
                    && got.stderr.contains(judge),
                "{backend} {mode}: {}",
                got.stderr
            );
        }
    }
}

#[test]
fn a_jit_no_profile_covers_runs_unjudged_beside_an_enforced_one() {
    let Some(bin) = two_jits("a_jit_no_profile_covers_runs_unjudged_beside_an_enforced_one") else {
        return;
    };
    for backend in backends() {
        let env = [("JITGUARD_BACKEND", backend)];
        // The toy JIT's own region: no profile, the documented notice, and
        // even a rogue store opens (unjudged).
        let got = guarded(&bin, &["rogue-toy"], &env);
        assert_eq!(got.code, Some(0), "{backend}: {got:?}");
        assert!(got.stdout.contains("code changed: yes"), "{backend}");
        assert!(
            got.stderr
                .contains("jitguard: notice: no writer profile for two_jits"),
            "{backend}: {}",
            got.stderr
        );
        // PCRE2's region in the same process is still enforced.
        let got = guarded(&bin, &["rogue-pcre2"], &env);
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        assert!(
            got.stderr.contains("writer profile: builtin:pcre2-jit"),
            "{backend}: {}",
            got.stderr
        );
    }
}

/// qemu-x86_64 with examples/rogue_thread.c preloaded, running a guest
/// that sleeps while the rogue thread stores.
fn qemu_with_rogue(test: &str) -> Option<(PathBuf, PathBuf)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(qemu) = std::env::split_paths(&path)
        .map(|d| d.join("qemu-x86_64"))
        .find(|p| p.is_file())
    else {
        eprintln!("SKIPPED {test}: qemu-x86_64 is not installed (Debian's qemu-user)");
        return None;
    };
    let rogue = example_with("rogue_thread", "rogue_thread.so", &["-shared", "-fPIC"]);
    Some((qemu, rogue))
}

const GUEST: [&str; 4] = ["-U", "LD_PRELOAD", "/bin/sleep", "1"];

#[test]
fn control_rogue_thread_changes_qemus_code_buffer() {
    let Some((qemu, rogue)) = qemu_with_rogue("control_rogue_thread_changes_qemus_code_buffer")
    else {
        return;
    };
    let run: Run = std::process::Command::new(&qemu)
        .args(GUEST)
        .env("LD_PRELOAD", &rogue)
        .output()
        .expect("run")
        .into();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("rogue: code changed: yes"), "{run:?}");
}

#[test]
fn rogue_store_into_qemus_code_buffer_is_denied_by_qemus_profile() {
    let Some((qemu, rogue)) =
        qemu_with_rogue("rogue_store_into_qemus_code_buffer_is_denied_by_qemus_profile")
    else {
        return;
    };
    let preload = format!("{} {}", lib().display(), rogue.display());
    for backend in backends() {
        let got = guarded(
            &qemu,
            &GUEST,
            &[("JITGUARD_BACKEND", backend), ("LD_PRELOAD", &preload)],
        );
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        assert!(!got.stderr.contains("code changed"), "{backend}");
        assert!(
            got.stderr.contains("jitguard: denied write")
                && got.stderr.contains("writer rogue_store+")
                && got.stderr.contains("writer profile: builtin:qemu-tcg"),
            "{backend}: {}",
            got.stderr
        );
    }
}

/// QEMU ends its process with `syscall(SYS_exit_group)`, which runs no
/// destructor: jitguard does its exit work (the stats file, a learned
/// profile) first.
#[test]
fn a_raw_exit_group_still_writes_the_stats_file() {
    let bin = example("raw_exit");
    for backend in backends() {
        let (got, stats) =
            guarded_with_stats(&bin, &[], backend, &[], &format!("raw-exit-{backend}"));
        assert_eq!(got.code, Some(3), "{backend}: {got:?}");
        assert_eq!(got.stdout, "ran\n");
        assert!(stats.is_file(), "{backend}: no stats file: {}", got.stderr);
        assert_eq!(stat(&stats, "regions"), 1, "{backend}");
        assert!(stat(&stats, "write_faults") > 0, "{backend}");
    }
}

/// Learning QEMU: the profile is written although QEMU exits by the raw
/// exit_group, and the guest's own RWX memory stays unguarded in learn
/// mode too (only the code buffer is a region).
#[test]
fn qemu_is_learned_with_its_guest_memory_left_unguarded() {
    let Some((qemu, _)) = qemu_with_rogue("qemu_is_learned_with_its_guest_memory_left_unguarded")
    else {
        return;
    };
    let toyjit = example("toyjit");
    let profile = tmp("qemu-learned.profile");
    let stats = tmp("qemu-learned.json");
    let _ = std::fs::remove_file(&profile);
    let out = std::process::Command::new(cli())
        .args(["learn", "-o"])
        .arg(&profile)
        .arg("--stats")
        .arg(&stats)
        .arg("--")
        .arg(&qemu)
        .args(["-U", "LD_PRELOAD"])
        .arg(&toyjit)
        // Small: in learn mode every write of QEMU's is one trapped
        // instruction (a 20-30 s run on two shared cores).
        .args(["--funcs", "8", "--pages", "4"])
        .env("JITGUARD_CONFIG", "/dev/null")
        .output()
        .expect("jitguard learn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("this run added"), "{err}");
    let text = std::fs::read_to_string(&profile).expect("profile written");
    assert!(text.contains("qemu-x86_64+"), "{text}");
    assert_eq!(stat_text(&stats, "writer_profile"), "learning");
    assert_eq!(stat(&stats, "regions"), 1, "the code buffer only");
}
