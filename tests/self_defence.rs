//! One data write aimed at jitguard itself (examples/selfattack.c): the
//! attacker knows where each of libjitguard.so's statics is from the
//! shipped library's own symbol table (`nm`), and finds fields inside them
//! the way an attacker would (by comparing memory across runs or moments).
//!
//! Every scenario runs twice under the profile learned from the benign
//! run. The control (`JITGUARD_VAULT=off`: jitguard with its own state
//! left writable, as it was before it defended itself) must show the
//! write doing what it was aimed at: the rogue store lands, or the
//! attacker's function runs. The guarded run must refuse the write to
//! jitguard's state itself: one `denied write to jitguard's own state`
//! report, then SIGSEGV, and nothing the attack was after.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const LANDED: &str = "answer() = 1337";

/// Offset and size of a static of libjitguard.so, from its symbol table.
fn symbol(name: &str) -> (u64, u64) {
    let out = Command::new("nm")
        .args(["-S", "--defined-only", "-C"])
        .arg(lib())
        .output()
        .expect("nm (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 4 && (f[3] == name || f[3].starts_with(&format!("{name}::h"))) {
            return (
                u64::from_str_radix(f[0], 16).unwrap(),
                u64::from_str_radix(f[1], 16).unwrap(),
            );
        }
    }
    panic!("{name} not in the symbol table of {}", lib().display());
}

fn learn(backend: &str, test: &str) -> PathBuf {
    let profile = tmp(&format!("selfattack-{test}-{backend}.profile"));
    let _ = std::fs::remove_file(&profile);
    let got = guarded(
        &example("selfattack"),
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
    profile
}

fn run(backend: &str, profile: &Path, vault: &str, args: &[&str]) -> Run {
    guarded(
        &example("selfattack"),
        args,
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ("JITGUARD_VAULT", vault),
        ],
    )
}

/// The guarded run refused the write into jitguard's state.
fn assert_refused(got: &Run, landed: &str, what: &str) {
    assert_eq!(got.signal, Some(11), "{what}: must die by SIGSEGV: {got:?}");
    assert!(!got.stdout.contains(landed), "{what}: {}", got.stdout);
    let reports: Vec<&str> = got
        .stderr
        .lines()
        .filter(|l| l.starts_with("jitguard: denied write to jitguard's own state at 0x"))
        .collect();
    assert_eq!(reports.len(), 1, "{what}: {}", got.stderr);
    assert!(reports[0].contains("by thread "), "{}", reports[0]);
    assert!(
        reports[0].contains("selfattack"),
        "the report names the writer: {}",
        reports[0]
    );
}

/// Control then guarded, on every backend, for an attack given by its
/// arguments.
fn attack(test: &str, args: impl Fn(&str) -> Vec<String>, landed: &str) {
    for backend in backends() {
        let profile = learn(backend, test);
        let a = args(backend);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let control = run(backend, &profile, "off", &a);
        assert!(
            control.stdout.contains(landed),
            "control on {backend} ({test}): the write must do what it aims at: {control:?}"
        );
        let got = run(backend, &profile, "on", &a);
        assert_refused(&got, landed, &format!("{test} on {backend}"));
    }
}

fn sym_args(scenario: &str, name: &str) -> Vec<String> {
    let (off, size) = symbol(name);
    vec![scenario.into(), format!("{off:x}"), size.to_string()]
}

#[test]
fn the_benign_run_is_unchanged_by_the_vault() {
    let stock_run = stock(&example("selfattack"), &["benign"]);
    assert_eq!(stock_run.stdout, "answer() = 42\n");
    for backend in backends() {
        let profile = learn(backend, "benign");
        let got = run(backend, &profile, "on", &["benign"]);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        assert_eq!(got.stdout, stock_run.stdout);
    }
}

#[test]
fn unpublishing_the_writer_view_is_refused() {
    attack(
        "view",
        |_| sym_args("view", "jitguard::writers::view::VIEW"),
        LANDED,
    );
}

#[test]
fn unpublishing_the_region_snapshot_is_refused() {
    attack(
        "snapshot",
        |_| sym_args("snapshot", "jitguard::regions::SNAPSHOT"),
        LANDED,
    );
}

#[test]
fn switching_jitguard_off_through_its_start_up_state_is_refused() {
    // STATE's first byte: 3 is "disabled", after which the hooks pass
    // every call straight through and new code regions go unguarded.
    attack(
        "state",
        |_| {
            let (off, _) = symbol("jitguard::state::STATE");
            vec!["state".into(), format!("{off:x}"), "3".into()]
        },
        LANDED,
    );
}

#[test]
fn redirecting_a_recorded_signal_action_is_refused() {
    attack(
        "sigaction",
        |_| sym_args("sigaction", "jitguard::signals::CHAINS"),
        "hijacked",
    );
}

#[test]
fn redirecting_a_real_function_is_refused() {
    attack(
        "real",
        |_| sym_args("real", "jitguard::real::SLOTS"),
        "hijacked",
    );
}

/// Candidates for the mode's byte inside the configuration: equal in two
/// enforcing runs, different in a run of `mode` (dumps of the same
/// static, same binary). More than one byte may qualify (a field that
/// follows the mode): the attacker tries each in turn.
fn mode_candidates(backend: &str, profile: &Path, mode: &str) -> Vec<(u64, u8)> {
    let (off, size) = symbol("jitguard::state::GLOBALS");
    let args = ["dump".to_string(), format!("{off:x}"), size.to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let learned = tmp(&format!("selfattack-dump-{backend}-{mode}.profile"));
    let dump = |m: &str| -> Vec<u8> {
        let path: &Path = if m == "learn" { &learned } else { profile };
        let got = guarded(
            &example("selfattack"),
            &args,
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_MODE", m),
                ("JITGUARD_PROFILE", path.to_str().unwrap()),
            ],
        );
        assert_eq!(got.code, Some(0), "dump: {got:?}");
        let hex = got.stdout.lines().last().unwrap_or_default().to_string();
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let (e1, e2, m) = (dump("enforce"), dump("enforce"), dump(mode));
    (0..e1.len())
        .filter(|&i| e1[i] == e2[i] && e1[i] != m[i])
        .map(|i| (off + i as u64, m[i]))
        .collect()
}

fn poke_args(at: u64, value: u8) -> Vec<String> {
    vec!["poke".into(), format!("{at:x}"), value.to_string()]
}

/// The one candidate byte whose write makes the control's rogue store
/// land (what an attacker would find by trying).
fn mode_write(backend: &str, profile: &Path, mode: &str) -> Vec<String> {
    let candidates = mode_candidates(backend, profile, mode);
    let before = std::fs::read_to_string(profile).unwrap();
    for &(at, value) in &candidates {
        let a = poke_args(at, value);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let control = run(backend, profile, "off", &a);
        std::fs::write(profile, &before).unwrap();
        if control.stdout.contains(LANDED) {
            return poke_args(at, value);
        }
    }
    panic!("control on {backend}: no candidate byte switched the mode to {mode}: {candidates:?}");
}

#[test]
fn changing_the_mode_to_audit_is_refused() {
    for backend in backends() {
        let profile = learn(backend, "mode-audit");
        let args = mode_write(backend, &profile, "audit");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = run(backend, &profile, "on", &args);
        assert_refused(&got, LANDED, &format!("mode on {backend}"));
    }
}

#[test]
fn changing_the_mode_to_learn_cannot_rewrite_the_enforced_profile() {
    for backend in backends() {
        let profile = learn(backend, "mode-learn");
        let before = std::fs::read_to_string(&profile).unwrap();
        let args = mode_write(backend, &profile, "learn");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let control = run(backend, &profile, "off", &args);
        assert!(control.stdout.contains(LANDED), "control: {control:?}");
        let after = std::fs::read_to_string(&profile).unwrap();
        assert!(
            after.contains("rogue_store") && !before.contains("rogue_store"),
            "control: learn mode switched on by one write records the rogue into the enforced profile:\n{after}"
        );
        std::fs::write(&profile, &before).unwrap();
        let got = run(backend, &profile, "on", &args);
        assert_refused(&got, LANDED, &format!("mode on {backend}"));
        assert_eq!(std::fs::read_to_string(&profile).unwrap(), before);
    }
}

/// Discarding the page of jitguard's start-up state (MADV_DONTNEED would
/// give a private file page back its initial contents: "not started"):
/// through libc it is refused by the hook; by a raw system call, by the
/// kernel (the section is an anonymous, sealed copy).
#[test]
fn discarding_jitguards_pages_is_refused() {
    for (how, raw) in [("libc", "0"), ("raw", "1")] {
        for backend in backends() {
            let profile = learn(backend, &format!("madvise-{how}"));
            let (off, _) = symbol("jitguard::state::STATE");
            let args = ["madvise".to_string(), format!("{off:x}"), raw.to_string()];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let control = run(backend, &profile, "off", &args);
            assert!(
                control.stdout.contains("madvise = 0") && control.stdout.contains(LANDED),
                "control on {backend} ({how}): {control:?}"
            );
            let got = run(backend, &profile, "on", &args);
            assert!(
                got.stdout.contains("madvise = -1"),
                "{how} on {backend}: the discard must fail: {got:?}"
            );
            assert_eq!(got.signal, Some(11), "{how} on {backend}: {got:?}");
            assert!(!got.stdout.contains(LANDED), "{got:?}");
            assert!(
                got.stderr.contains("jitguard: denied write at "),
                "the rogue store into the new region is refused as usual: {}",
                got.stderr
            );
        }
    }
}

/// A stalled update (reader counts are ordinary memory) must not hold
/// the vault open: the store made while it waits is refused.
#[test]
fn a_stalled_update_leaves_the_vault_closed() {
    let (roff, _) = symbol("jitguard::regions::SNAPSHOT_READERS");
    let (woff, wsize) = symbol("jitguard::real::SLOTS");
    attack(
        "stall",
        |_| {
            vec![
                "stall".into(),
                format!("{roff:x}"),
                format!("{woff:x}"),
                wsize.to_string(),
            ]
        },
        "hijacked",
    );
}

/// The protected sections are whole pages of their own in the built
/// library (hooks/sections.ld): no ordinary data shares a page with them,
/// so protecting them protects nothing else and leaves nothing of theirs
/// out. (Without the script, jitguard says so at start-up and leaves its
/// state writable: this catches a build that lost it.)
#[test]
fn own_state_sections_are_whole_pages_of_their_own() {
    let out = Command::new("readelf")
        .args(["-S", "-W"])
        .arg(lib())
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    // "[Nr] Name Type Address Off Size ES Flg ...": allocated sections.
    let mut sections = Vec::new();
    for l in text.lines() {
        let Some(rest) = l.trim_start().strip_prefix('[') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After "Nr]": name, type, address, offset, size, entsize, flags.
        if f.len() < 7 || f[1].starts_with("Name") {
            continue;
        }
        let (name, addr, size, flags) = (f[1], f[3], f[5], f[7.min(f.len() - 1)]);
        let (Ok(addr), Ok(size)) = (u64::from_str_radix(addr, 16), u64::from_str_radix(size, 16))
        else {
            continue;
        };
        if addr != 0 && size != 0 && (flags.contains('A') || name.starts_with("jitguard_")) {
            sections.push((name.to_string(), addr, size));
        }
    }
    let own: Vec<_> = sections
        .iter()
        .filter(|(n, _, _)| {
            ["jitguard_vault", "jitguard_secret", "jitguard_frozen"].contains(&n.as_str())
        })
        .collect();
    assert_eq!(own.len(), 3, "{text}");
    for (name, addr, size) in &own {
        assert_eq!(addr % 4096, 0, "{name} starts mid-page");
        assert_eq!(size % 4096, 0, "{name} ends mid-page");
        for (other, a, s) in &sections {
            if own.iter().any(|(n, _, _)| n == other) {
                continue;
            }
            let (lo, hi) = (a & !4095, (a + s + 4095) & !4095);
            assert!(
                hi <= *addr || lo >= addr + size,
                "{other} ({a:#x}+{s:#x}) shares a page with {name} ({addr:#x}+{size:#x})"
            );
        }
    }
}
