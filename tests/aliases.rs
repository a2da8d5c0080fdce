//! Writable aliases of code (examples/aliases.c): memory executable in one
//! mapping and writable in another (a memfd, a POSIX shm object or file
//! pages mapped twice, a SysV segment attached twice), a SysV attach with
//! SHM_EXEC, and personality(READ_IMPLIES_EXEC).
//!
//! Every attack first runs without jitguard, where the store through the
//! writable view must change the code that then runs (the control). Under
//! jitguard, with a profile that trusts only the emitter `emit_code`, the
//! store must be refused on every backend: a `jitguard: denied write`
//! report naming `rogue_store`, then SIGSEGV. The benign runs (the same
//! programs writing only through their emitter, or writing data once the
//! code view is gone) print the same as without jitguard.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

const LANDED: &str = "code() = 1337";

/// The profile, in a file of the calling test's own (tests run in
/// parallel, and a file rewritten under another test's run is a torn read).
fn profile(test: &str) -> PathBuf {
    let p = tmp(&format!("aliases-{test}.profile"));
    std::fs::write(&p, "# jitguard writer profile 1\nsymbol emit_code\n").unwrap();
    p
}

/// Without jitguard the rogue store changes the code.
fn control(scenario: &str) {
    let got = stock(&example("aliases"), &[scenario, "attack"]);
    assert_eq!(got.code, Some(0), "control {scenario}: {}", got.stderr);
    assert!(
        got.stdout.contains(LANDED),
        "control {scenario}: the store did not land: {}",
        got.stdout
    );
}

/// Under jitguard the same store is refused, on every backend.
fn refused(scenario: &str) {
    control(scenario);
    let p = profile(scenario);
    for backend in backends() {
        let got = guarded(
            &example("aliases"),
            &[scenario, "attack"],
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", p.to_str().unwrap()),
            ],
        );
        let what = format!("{scenario} under {backend}");
        assert!(
            got.stdout.contains("code() = 4"),
            "{what}: the emitter's code did not run: {got:?}"
        );
        assert!(!got.stdout.contains(LANDED), "{what}: the store landed");
        assert!(
            got.stderr.contains("jitguard: denied write") && got.stderr.contains("rogue_store"),
            "{what}: no denial naming the rogue writer: {}",
            got.stderr
        );
        assert_eq!(got.signal, Some(11), "{what}: {}", got.stderr);
        let reports = got
            .stderr
            .lines()
            .filter(|l| l.starts_with("jitguard: denied write at "))
            .count();
        assert_eq!(reports, 1, "{what}: {}", got.stderr);
        // A killed process writes no stats file: none is read.
    }
}

#[test]
fn a_store_through_the_rw_alias_of_an_rx_memfd_is_refused() {
    refused("memfd-rx");
}

#[test]
fn a_store_through_the_rw_alias_of_an_rwx_memfd_is_refused() {
    refused("memfd-rwx");
}

#[test]
fn an_rw_view_mapped_before_the_code_view_is_guarded_once_it_is_code() {
    refused("rw-first");
}

#[test]
fn a_store_through_a_posix_shm_alias_is_refused() {
    refused("posix-shm");
}

#[test]
fn a_store_through_shared_file_pages_mapped_rx_elsewhere_is_refused() {
    refused("file");
}

#[test]
fn a_store_into_a_shmat_shm_exec_segment_is_refused() {
    refused("sysv-exec");
}

#[test]
fn a_store_through_a_second_attach_of_an_executable_segment_is_refused() {
    refused("sysv-alias");
}

#[test]
fn a_store_into_rw_memory_under_read_implies_exec_is_refused() {
    refused("rie");
}

#[test]
fn a_view_that_regains_exec_is_guarded_again() {
    refused("flip");
}

#[test]
fn a_view_moved_and_grown_by_mremap_stays_guarded() {
    refused("remap");
}

#[test]
fn a_forked_childs_store_through_the_alias_is_refused() {
    let bin = example("aliases");
    let want = stock(&bin, &["fork", "attack"]);
    assert!(
        want.stdout.contains("child: exit 0") && want.stdout.contains(LANDED),
        "control: {}",
        want.stdout
    );
    let p = profile("fork");
    for backend in backends() {
        let got = guarded(
            &bin,
            &["fork", "attack"],
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", p.to_str().unwrap()),
            ],
        );
        assert!(
            got.stdout.contains("child: signal 11") && !got.stdout.contains(LANDED),
            "fork under {backend}: {got:?}"
        );
        assert!(got.stderr.contains("rogue_store"), "{}", got.stderr);
        assert_eq!(got.code, Some(0), "fork under {backend}: {}", got.stderr);
    }
}

/// The benign programs print the same with and without jitguard, with
/// their writes trusted and nothing refused; the RW view is guarded.
#[test]
fn benign_programs_using_the_alias_run_the_same() {
    let bin = example("aliases");
    let p = profile("benign");
    for scenario in [
        "memfd-rx",
        "memfd-rwx",
        "rw-first",
        "posix-shm",
        "file",
        "sysv-exec",
        "sysv-alias",
        "rie",
        "unmapped",
        "flip",
        "fork",
        "remap",
        "loop",
    ] {
        let want = stock(&bin, &[scenario]);
        assert_eq!(want.code, Some(0), "{scenario}: {}", want.stderr);
        for backend in backends() {
            let (got, stats) = guarded_with_stats(
                &bin,
                &[scenario],
                backend,
                &[("JITGUARD_PROFILE", p.to_str().unwrap())],
                &format!("aliases-benign-{scenario}-{backend}"),
            );
            let what = format!("{scenario} under {backend}");
            assert_eq!(got.stdout, want.stdout, "{what}: {}", got.stderr);
            assert_eq!((got.code, got.signal), (Some(0), None), "{what}");
            assert!(!got.stderr.contains("denied"), "{what}: {}", got.stderr);
            assert_eq!(stat(&stats, "denials"), 0, "{what}");
            assert!(stat(&stats, "regions") >= 1, "{what}: nothing guarded");
            assert!(stat(&stats, "write_faults") >= 1, "{what}: no write seen");
            assert!(
                stat_text(&stats, "writer_profile").starts_with("file:"),
                "{what}"
            );
        }
    }
}

/// The RW view itself is what is guarded: under pkey each of its pages
/// carries one of jitguard's keys (the kernel's ProtectionKey lines);
/// under mprotect it has lost write (`r--s`). The RX view is untouched.
#[test]
fn the_rw_views_pages_are_keyed_or_write_protected() {
    let bin = example("aliases");
    let p = profile("smaps");
    for backend in backends() {
        let smaps = tmp(&format!("aliases-smaps-{backend}"));
        let _ = std::fs::remove_file(&smaps);
        let got = guarded(
            &bin,
            &["loop"],
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", p.to_str().unwrap()),
                ("ALIASES_SMAPS", smaps.to_str().unwrap()),
            ],
        );
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        let line = got.stderr.lines().find(|l| l.starts_with("rw=")).unwrap();
        let addr = |k: &str| {
            let v = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap();
            u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
        };
        let (rw, x) = (addr("rw="), addr("x="));
        let maps = jitguard::maps::parse_smaps(&std::fs::read_to_string(&smaps).unwrap());
        let len = 16 * jitguard::PAGE_SIZE;
        let of = |start: u64| -> Vec<&jitguard::maps::Mapping> {
            maps.iter()
                .filter(|m| m.start < start + len && start < m.end)
                .collect()
        };
        for m in of(x) {
            assert!(m.exec && !m.write, "{backend}: the RX view changed: {m:?}");
        }
        let rw_maps = of(rw);
        assert!(!rw_maps.is_empty());
        if backend == "pkey" {
            let keys = jitguard::maps::page_keys(&maps, rw, rw + len);
            assert!(
                keys.iter().all(|k| matches!(k, Some(k) if *k != 0)),
                "pkey: RW view pages not keyed: {keys:?}"
            );
        } else {
            for m in rw_maps {
                assert!(
                    !m.write && !m.private && m.read,
                    "mprotect: RW view still writable: {m:?}"
                );
            }
        }
    }
}

/// Views mapped before jitguard started (by a preloaded library's
/// constructor, which runs before jitguard's) are found in
/// /proc/self/maps at start-up and guarded the same way.
#[test]
fn views_mapped_before_start_up_are_guarded() {
    mapped_before_start_up_is_guarded("early");
}

/// So is anonymous W+X memory mapped before jitguard started.
#[test]
fn wx_memory_mapped_before_start_up_is_guarded() {
    mapped_before_start_up_is_guarded("early-rwx");
}

fn mapped_before_start_up_is_guarded(scenario: &str) {
    let early = example_with(
        "aliases_early",
        "libaliases_early.so",
        &["-shared", "-fPIC"],
    );
    let bin = example("aliases");
    let run = |preload: String, args: &[&str], env: &[(&str, &str)]| -> Run {
        let mut c = Command::new(&bin);
        c.args(args)
            .env("LD_PRELOAD", preload)
            .env("JITGUARD_CONFIG", "/dev/null");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap().into()
    };
    let control = run(early.display().to_string(), &[scenario, "attack"], &[]);
    assert!(
        control.stdout.contains(LANDED),
        "{scenario} control: {control:?}"
    );
    let p = profile(scenario);
    let both = format!("{}:{}", lib().display(), early.display());
    for backend in backends() {
        let env = [
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_PROFILE", p.to_str().unwrap()),
        ];
        let benign = run(both.clone(), &[scenario], &env);
        assert_eq!(
            benign.stdout, "code() = 42\n",
            "{scenario} {backend}: {benign:?}"
        );
        assert_eq!(benign.code, Some(0), "{backend}: {}", benign.stderr);
        let got = run(both.clone(), &[scenario, "attack"], &env);
        assert!(
            !got.stdout.contains(LANDED),
            "{scenario} {backend}: the store landed"
        );
        assert!(
            got.stderr.contains("jitguard: denied write") && got.stderr.contains("rogue_store"),
            "{backend}: {}",
            got.stderr
        );
        assert_eq!(got.signal, Some(11), "{backend}");
    }
}
