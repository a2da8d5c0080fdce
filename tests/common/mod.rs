//! Shared helpers for the integration tests: build the C programs in
//! `examples/`, run them with and without libjitguard.so, read stats and
//! smaps, and skip (or fail, with JITGUARD_REQUIRE_PKU=1) where MPK is needed.
#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/release/libjitguard.so, built once if missing.
pub fn lib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        if let Ok(p) = std::env::var("JITGUARD_LIB") {
            return PathBuf::from(p);
        }
        let p = root().join("target/release/libjitguard.so");
        let st = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "jitguard-hooks",
                "-p",
                "jitguard",
                "--quiet",
            ])
            .current_dir(root())
            .status()
            .expect("cargo build");
        assert!(st.success(), "building libjitguard.so failed");
        assert!(p.is_file(), "{} missing", p.display());
        p
    })
    .clone()
}

/// Compiles examples/NAME.c (cached in the test tmpdir).
pub fn example(name: &str) -> PathBuf {
    example_with(name, name, &[])
}

/// Compiles examples/NAME.c with extra compiler flags into tmpdir/OUT.
pub fn example_with(name: &str, out: &str, flags: &[&str]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let src = root().join("examples").join(format!("{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out);
    let fresh = match (out.metadata(), src.metadata()) {
        (Ok(o), Ok(s)) => o.modified().unwrap() >= s.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        let tmp = out.with_extension("tmp");
        let st = Command::new("cc")
            .args(["-O2", "-g", "-pthread"])
            .args(flags)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("cc (install gcc)");
        assert!(st.success(), "compiling {name}.c failed");
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

pub fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The result of one run, with what tests compare.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code(),
            signal: o.status.signal(),
        }
    }
}

/// Runs a program without jitguard.
pub fn stock(bin: &Path, args: &[&str]) -> Run {
    Command::new(bin)
        .args(args)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("run")
        .into()
}

/// Runs a program under libjitguard.so with extra environment.
pub fn guarded(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin);
    c.args(args).env("LD_PRELOAD", lib());
    for k in [
        "JITGUARD_MODE",
        "JITGUARD_POLICY",
        "JITGUARD_BACKEND",
        "JITGUARD_STATS",
        "JITGUARD_LOG",
        "JITGUARD_PROFILE",
        "JITGUARD_WINDOW",
        "JITGUARD_REPORT",
        "JITGUARD_SYSLOG_SOCKET",
        "JITGUARD_ATTEST",
        "JITGUARD_GADGETS",
        "JITGUARD_VAULT",
        "JITGUARD_SECCOMP",
    ] {
        c.env_remove(k);
    }
    // The machine's /etc/jitguard.conf must not change what a test sees.
    c.env("JITGUARD_CONFIG", "/dev/null");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run").into()
}

/// Runs under jitguard on `backend` with extra environment and a stats
/// file at tmpdir/NAME.json; returns the run and the stats path.
pub fn guarded_with_stats(
    bin: &Path,
    args: &[&str],
    backend: &str,
    extra: &[(&str, &str)],
    name: &str,
) -> (Run, PathBuf) {
    let stats = tmp(&format!("{name}.json"));
    // A process that guards nothing writes no file to a path without %p:
    // a file left from an earlier run must not stand in for it.
    let _ = std::fs::remove_file(&stats);
    let mut env = vec![
        ("JITGUARD_BACKEND", backend),
        ("JITGUARD_STATS", stats.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    (guarded(bin, args, &env), stats)
}

/// Runs under jitguard with `JITGUARD_STATS=DIR/stats.%p.json` in a fresh
/// directory named `name`; returns the run and the stats files written.
pub fn guarded_with_pid_stats(
    bin: &Path,
    args: &[&str],
    backend: &str,
    name: &str,
) -> (Run, Vec<PathBuf>) {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pattern = dir.join("stats.%p.json");
    let got = guarded(
        bin,
        args,
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_STATS", pattern.to_str().unwrap()),
        ],
    );
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    (got, files)
}

/// Runs examples/EXAMPLE with one scenario argument without and with
/// jitguard (every backend): same stdout, same exit status or signal.
pub fn same_as_stock(example_name: &str, scenario: &str) -> Run {
    let bin = example(example_name);
    let want = stock(&bin, &[scenario]);
    for backend in backends() {
        let got = guarded(&bin, &[scenario], &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(
            got.stdout, want.stdout,
            "{scenario} under {backend}: {}",
            got.stderr
        );
        assert_eq!(
            (got.code, got.signal),
            (want.code, want.signal),
            "{scenario} under {backend}"
        );
    }
    want
}

pub fn cpu_has_pku() -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    jitguard::cli::cpu_flag(&info, "pku") && jitguard::cli::cpu_flag(&info, "ospke")
}

/// For tests that need MPK: true to go on; false (after a visible notice)
/// to skip. With JITGUARD_REQUIRE_PKU=1 a missing PKU fails the test.
pub fn need_pku(test: &str) -> bool {
    if cpu_has_pku() {
        return true;
    }
    if std::env::var("JITGUARD_REQUIRE_PKU").as_deref() == Ok("1") {
        panic!("{test}: JITGUARD_REQUIRE_PKU=1 but this CPU has no pku/ospke");
    }
    eprintln!("SKIPPED {test}: this CPU has no protection keys (pku/ospke); set JITGUARD_REQUIRE_PKU=1 to fail instead");
    false
}

/// Whether the run covers `backend`: JITGUARD_TEST_BACKENDS (a comma
/// list) narrows it, e.g. to `pkey` in the PKU guest, where the mprotect
/// backend was already tested on the host.
pub fn wanted(backend: &str) -> bool {
    match std::env::var("JITGUARD_TEST_BACKENDS") {
        Ok(list) => list.split(',').any(|b| b.trim() == backend),
        Err(_) => true,
    }
}

/// The backends this machine can run: mprotect always, pkey with PKU.
pub fn backends() -> Vec<&'static str> {
    let mut b = Vec::new();
    if wanted("mprotect") {
        b.push("mprotect");
    }
    if wanted("pkey") {
        if cpu_has_pku() {
            b.push("pkey");
        } else {
            need_pku("pkey backend variant");
        }
    }
    b
}

/// Reads an integer field of a stats file.
pub fn stat(path: &Path, field: &str) -> u64 {
    let json =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("stats {}: {e}", path.display()));
    jitguard::stats::Stats::field(&json, field).unwrap_or_else(|| panic!("no {field} in {json}"))
}

pub fn stat_text(path: &Path, field: &str) -> String {
    let json = std::fs::read_to_string(path).unwrap();
    jitguard::stats::Stats::text_field(&json, field).unwrap_or_default()
}

/// The jitguard CLI of this build (built with the library).
pub fn cli() -> PathBuf {
    lib();
    root().join("target/release/jitguard")
}

/// Whether a tool is on PATH; if not, says SKIPPED for `test` and why.
pub fn have_tool(test: &str, tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED {test}: {tool} is not installed (Debian package {package}; scripts/test.sh installs it)");
    }
    found
}

/// Parses `name: hex hex...` lines a test program prints.
pub fn hex_line(out: &str, name: &str) -> Vec<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} line in {out}"))
        .split_whitespace()
        .map(|h| u64::from_str_radix(h, 16).unwrap())
        .collect()
}
