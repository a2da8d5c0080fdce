//! Other unmodified JIT compilers under jitguard (issue 6, "Beyond WAMR"):
//! node 20 (V8's JavaScript tiers, WebAssembly with V8's own trap handler,
//! a WASI module, code moved by the GC), PCRE2's JIT in pcre2grep and
//! `grep -P`, OpenJDK 17 HotSpot, QEMU's user-mode TCG (issue 15:
//! coreutils and a guest JIT under qemu-x86_64), and Erlang/OTP 25's BEAM
//! JIT (its code dual-mapped from one memfd: the RW view is guarded). Each
//! workload prints the same stdout and exits the same way with and without
//! libjitguard.so, and the stats file shows that jitguard guarded the
//! runtime's code memory and took its write faults.
//!
//! Every guarded run is enforced by the runtime's built-in writer profile
//! (profiles/node-v8, pcre2-jit, hotspot, qemu-tcg, erlang-beam-jit) with
//! nothing refused.
//!
//! A runtime that is not installed makes its tests print SKIPPED and pass
//! (scripts/test.sh installs pcre2-utils and erlang-base; node and java
//! come with the machine).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// V8 would otherwise key its wasm code with a protection key of its own
/// where the CPU has PKU; jitguard is to guard that code instead.
const NODE: [&str; 1] = ["--no-wasm-memory-protection-keys"];

/// `name` from PATH, or None after a visible SKIPPED notice.
/// `name` in PATH, if it is there.
fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn runtime(test: &str, name: &str) -> Option<PathBuf> {
    let found = in_path(name);
    if found.is_none() {
        eprintln!("SKIPPED {test}: `{name}` is not installed");
    }
    found
}

fn workload(rel: &str) -> String {
    let p = root().join("workloads/runtimes").join(rel);
    assert!(p.is_file(), "{} missing", p.display());
    p.to_string_lossy().into_owned()
}

fn stock_env(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin);
    c.args(args).env_remove("LD_PRELOAD");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run").into()
}

/// One guarded run and its stats file.
struct Guarded {
    backend: &'static str,
    run: Run,
    stats: PathBuf,
}

/// Runs `bin args` without jitguard and then under it on every backend
/// (stats at tmpdir/NAME-BACKEND.json).
fn runs(bin: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> (Run, Vec<Guarded>) {
    let want = stock_env(bin, args, env);
    let got = backends()
        .into_iter()
        .map(|backend| {
            let (run, stats) =
                guarded_with_stats(bin, args, backend, env, &format!("{name}-{backend}"));
            Guarded {
                backend,
                run,
                stats,
            }
        })
        .collect();
    (want, got)
}

/// Same exit status; and the library guarded RWX memory, took write
/// faults and refused none.
fn assert_same_exit_and_guarded(want: &Run, g: &Guarded, what: &str) {
    assert_eq!(
        (g.run.code, g.run.signal),
        (want.code, want.signal),
        "{what} under {}: exit differs; stderr: {}",
        g.backend,
        g.run.stderr
    );
    let s = &g.stats;
    assert!(stat(s, "regions") >= 1, "{what}: no RWX memory was guarded");
    assert!(stat(s, "pages") > 0, "{what}: no page was keyed or opened");
    assert!(stat(s, "write_faults") > 0, "{what}: no write went through");
    assert_eq!(stat(s, "denials"), 0, "{what}: a write was refused");
    // Enforced, by the runtime's built-in writer profile (profiles/).
    assert_eq!(stat_text(s, "mode"), "enforce", "{what}");
    let profile = stat_text(s, "writer_profile");
    assert!(
        profile.starts_with("builtin:"),
        "{what}: writers not authenticated (writer_profile {profile})"
    );
    assert_eq!(stat(s, "unnamed_writers"), 0, "{what}");
}

fn summary(g: &Guarded, what: &str) {
    eprintln!(
        "{what} ({}): {} regions, {} write faults, {} signals to the runtime",
        g.backend,
        stat(&g.stats, "regions"),
        stat(&g.stats, "write_faults"),
        stat(&g.stats, "chained_signals")
    );
}

/// The whole check for a deterministic program: same stdout, same exit,
/// guarded. Returns the guarded runs for extra checks.
fn same_output(bin: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> Vec<Guarded> {
    let (want, got) = runs(bin, args, env, name);
    assert!(
        !want.stdout.is_empty(),
        "{name}: the stock run printed nothing: {want:?}"
    );
    for g in &got {
        assert_eq!(
            g.run.stdout, want.stdout,
            "{name} under {}: stdout differs (exit code {:?}, signal {:?}); stderr: {}",
            g.backend, g.run.code, g.run.signal, g.run.stderr
        );
        assert_same_exit_and_guarded(&want, g, name);
        summary(g, name);
    }
    got
}

fn node_args<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    NODE.iter().chain(rest).copied().collect()
}

// ---------------------------------------------------------------- node

#[test]
fn node_javascript_tiers_up_and_deoptimises_same_output() {
    let test = "node_javascript_tiers_up_and_deoptimises_same_output";
    let Some(node) = runtime(test, "node") else {
        return;
    };
    let script = workload("node/jit_hot.js");
    same_output(&node, &node_args(&[&script]), &[], "node-jit-hot");
}

#[test]
fn node_webassembly_liftoff_and_turbofan_same_output() {
    let test = "node_webassembly_liftoff_and_turbofan_same_output";
    let Some(node) = runtime(test, "node") else {
        return;
    };
    let script = workload("node/wasm_hot.js");
    same_output(&node, &node_args(&[&script]), &[], "node-wasm-hot");
}

#[test]
fn node_wasi_modules_same_output() {
    let test = "node_wasi_modules_same_output";
    let Some(node) = runtime(test, "node") else {
        return;
    };
    // crc: a compute kernel; many_funcs_small: 1,500 functions, so V8
    // writes much code.
    for name in ["crc", "many_funcs_small"] {
        let module = root().join(format!("target/workloads/{name}.wasm"));
        if !module.is_file() {
            eprintln!(
                "SKIPPED node_wasi {name}: {} missing (scripts/build-workloads.sh)",
                module.display()
            );
            continue;
        }
        let runner = root().join("workloads/run-node.mjs");
        let args = node_args(&[runner.to_str().unwrap(), module.to_str().unwrap()]);
        let got = same_output(&node, &args, &[], &format!("node-wasi-{name}"));
        for g in got {
            assert!(g.run.stdout.contains("checksum: "), "{name}: {:?}", g.run);
        }
    }
}

#[test]
fn node_code_moved_by_the_gc_same_output() {
    let test = "node_code_moved_by_the_gc_same_output";
    let Some(node) = runtime(test, "node") else {
        return;
    };
    // --trace-evacuation shows which pages compaction evacuated
    // ("executable=1": code pages). Those lines vary from run to run, so
    // only the program's own result line is compared. V8 prints them
    // through C stdio (flushed in 4 KiB blocks) and node's console.log
    // writes directly, so that line may land inside a trace line: it is
    // found by its text, not by line boundaries.
    let script = workload("node/gc_code.js");
    let args = node_args(&[
        "--expose-gc",
        "--stress-compaction",
        "--always-sparkplug",
        "--trace-evacuation",
        &script,
    ]);
    let program = |out: &str| -> String {
        let at = out.find("functions kept: ").unwrap_or(out.len());
        out[at..].lines().next().unwrap_or_default().to_owned()
    };
    let code_moves = |out: &str| out.matches("executable=1").count();
    let (want, got) = runs(&node, &args, &[], "node-gc-code");
    assert!(program(&want.stdout).contains(", hash: "), "{want:?}");
    for g in &got {
        assert_eq!(
            program(&g.run.stdout),
            program(&want.stdout),
            "under {}: {}",
            g.backend,
            g.run.stderr
        );
        assert_same_exit_and_guarded(&want, g, "node gc_code.js");
        let moves = code_moves(&g.run.stdout);
        assert!(moves > 0, "the GC evacuated no code page under jitguard");
        summary(g, "node gc_code.js");
        eprintln!(
            "node gc_code.js ({}): {moves} code pages evacuated",
            g.backend
        );
    }
}

#[test]
fn node_wasm_out_of_bounds_still_throws_runtime_error() {
    let test = "node_wasm_out_of_bounds_still_throws_runtime_error";
    let Some(node) = runtime(test, "node") else {
        return;
    };
    let script = workload("node/wasm_oob.js");
    let (want, got) = runs(&node, &node_args(&[&script]), &[], "node-wasm-oob");
    // The script ends with an uncaught trap: exit status 1.
    assert_eq!(want.code, Some(1), "{want:?}");
    assert!(want.stdout.contains("traps 3000/3000"), "{want:?}");
    let uncaught = "RuntimeError: memory access out of bounds";
    assert!(want.stderr.contains(uncaught), "{want:?}");
    for g in &got {
        assert_eq!(
            g.run.stdout, want.stdout,
            "under {}: {}",
            g.backend, g.run.stderr
        );
        assert!(g.run.stderr.contains(uncaught), "{:?}", g.run);
        assert_same_exit_and_guarded(&want, g, "node wasm_oob.js");
        // Every trap was a SIGSEGV that jitguard handed to V8's handler.
        assert!(
            stat(&g.stats, "chained_signals") >= 3000,
            "V8's trap handler did not get the out-of-bounds faults"
        );
        summary(g, "node wasm_oob.js");
    }
}

// ---------------------------------------------------------------- PCRE2

/// tmpdir/pcre2-corpus.txt from gen_corpus.py (once), or None if there is
/// no python3. 5,000 lines (450 KB): matching takes most of a stock run in
/// the emulated PKU guest, where these tests run again.
fn corpus(test: &str) -> Option<PathBuf> {
    static CORPUS: OnceLock<Option<PathBuf>> = OnceLock::new();
    let made = CORPUS.get_or_init(|| {
        let out = tmp("pcre2-corpus.txt");
        let run = Command::new("python3")
            .arg(workload("pcre2/gen_corpus.py"))
            .arg("5000")
            .output()
            .ok()?;
        assert!(run.status.success(), "gen_corpus.py: {run:?}");
        std::fs::write(&out, run.stdout).unwrap();
        Some(out)
    });
    if made.is_none() {
        eprintln!("SKIPPED {test}: no python3 to generate the corpus");
    }
    made.clone()
}

fn patterns() -> Vec<String> {
    std::fs::read_to_string(workload("pcre2/patterns.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Every pattern, one process each, prints the same matches (line numbers
/// and matched text) stock and guarded, and each process JIT-compiled its
/// pattern into memory jitguard guarded.
fn each_pattern(bin: &Path, opts: &[&str], env: &[(&str, &str)], tag: &str, corpus: &Path) {
    let corpus = corpus.to_str().unwrap();
    let mut faults = 0;
    let list = patterns();
    assert!(list.len() >= 30);
    for (i, pat) in list.iter().enumerate() {
        let args: Vec<&str> = opts.iter().copied().chain(["--", pat, corpus]).collect();
        let (want, got) = runs(bin, &args, env, &format!("{tag}-{i}"));
        assert_eq!(
            want.code,
            Some(0),
            "{tag} /{pat}/ matches nothing: {want:?}"
        );
        for g in &got {
            assert_eq!(
                g.run.stdout, want.stdout,
                "{tag} /{pat}/ under {}",
                g.backend
            );
            assert_same_exit_and_guarded(&want, g, &format!("{tag} /{pat}/"));
            faults += stat(&g.stats, "write_faults");
        }
    }
    eprintln!(
        "{tag}: {} patterns, {faults} write faults in all",
        list.len()
    );
}

#[test]
fn pcre2grep_jit_same_matches() {
    let test = "pcre2grep_jit_same_matches";
    let Some(bin) = runtime(test, "pcre2grep") else {
        return;
    };
    let Some(corpus) = corpus(test) else {
        return;
    };
    // pcre2grep JIT-compiles by default; -u: UTF mode, as grep -P has it.
    each_pattern(&bin, &["-u", "-n", "-o"], &[], "pcre2grep", &corpus);

    // All patterns in one process: many compiled patterns share the JIT's
    // 64 KiB chunks.
    let pats = workload("pcre2/patterns.txt");
    let c = corpus.to_str().unwrap();
    same_output(
        &bin,
        &["-u", "-n", "-o", "-f", &pats, c],
        &[],
        "pcre2grep-f",
    );

    // The control: without the JIT there is no RWX memory to guard.
    for backend in backends() {
        let (run, stats) = guarded_with_stats(
            &bin,
            &["--no-jit", "-c", "ERROR", c],
            backend,
            &[],
            &format!("pcre2grep-nojit-{backend}"),
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        // A process that guarded nothing writes no stats to a path
        // without %p (so a wrapper cannot clobber a JIT's file).
        assert!(
            !stats.exists() || stat(&stats, "regions") == 0,
            "--no-jit made RWX memory"
        );
    }
}

#[test]
fn grep_perl_regex_jit_same_matches() {
    let test = "grep_perl_regex_jit_same_matches";
    let Some(bin) = runtime(test, "grep") else {
        return;
    };
    let Some(corpus) = corpus(test) else {
        return;
    };
    // A UTF-8 locale, as most users have (grep -P is then in UTF mode).
    let env = [("LC_ALL", "C.UTF-8")];
    each_pattern(&bin, &["-P", "-n", "-o"], &env, "grep-P", &corpus);
}

// ---------------------------------------------------------------- HotSpot

#[test]
fn hotspot_tiers_deoptimises_and_handles_its_signals_same_output() {
    let test = "hotspot_tiers_deoptimises_and_handles_its_signals_same_output";
    let Some(java) = runtime(test, "java") else {
        return;
    };
    let (cp, src) = hotspot_classes();
    let args: Vec<&str> = match &cp {
        Some(cp) => vec!["-cp", cp, "HotspotWorkout"],
        None => vec![src.as_str()],
    };
    let got = same_output(&java, &args, &[], "hotspot");
    for g in &got {
        assert!(g.run.stdout.contains("stack overflows caught: 3 + 1"));
        // Implicit null and division checks, stack banging: HotSpot's own
        // SIGSEGV and SIGFPE handlers got their signals through jitguard.
        assert!(
            stat(&g.stats, "chained_signals") > 0,
            "HotSpot's handlers got no signal"
        );
    }
}

/// The HotSpot workout's class directory, compiled once per test run by a
/// stock javac for release 17 (so only the workload runs under jitguard,
/// on every JDK from 17 up), or None without a javac that can (java's
/// source launcher then compiles the returned source file). Both HotSpot
/// tests ask for it; the first compiles while the other waits.
fn hotspot_classes() -> (Option<String>, String) {
    static CLASSES: OnceLock<Option<String>> = OnceLock::new();
    let src = workload("hotspot/HotspotWorkout.java");
    let cp = CLASSES.get_or_init(|| {
        let classes = tmp("hotspot-release17");
        let cp = classes.to_str().unwrap().to_owned();
        let javac = runtime("hotspot workout compiled by javac", "javac")?;
        let ok = Command::new(javac)
            .args(["--release", "17", "-d", &cp, &src])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED compiling the HotSpot workout: javac --release 17 failed (a javac older than 17?)");
        }
        ok.then_some(cp)
    });
    (cp.clone(), src)
}

/// Every JDK installed (each `/usr/lib/jvm/*/bin/java`, and `java` in
/// PATH), under each of HotSpot's tiers: the built-in profile applies to
/// each, with call windows (an unprofiled HotSpot writes one instruction
/// per window: Temurin 25's `java -version` took 415,000 faults and 11 s),
/// and nothing is refused, including JDK 17's code-cache sweeper under
/// -Xcomp. Host only (mprotect): -Xcomp under the emulated guest would
/// take many minutes.
#[test]
fn hotspot_every_installed_jdk_every_tier_same_output() {
    let test = "hotspot_every_installed_jdk_every_tier_same_output";
    if !wanted("mprotect") {
        eprintln!("SKIPPED {test}: host only (JITGUARD_TEST_BACKENDS excludes mprotect)");
        return;
    }
    let mut jdks: Vec<PathBuf> = std::fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/java"))
        .filter(|p| p.is_file())
        .collect();
    jdks.extend(in_path("java"));
    let mut seen = std::collections::BTreeSet::new();
    jdks.retain(|j| seen.insert(std::fs::canonicalize(j).unwrap_or_else(|_| j.clone())));
    if jdks.is_empty() {
        eprintln!("SKIPPED {test}: no JDK installed");
        return;
    }
    let (cp, _) = hotspot_classes();
    let Some(cp) = cp else {
        eprintln!("SKIPPED {test}: no javac to compile the workout for every JDK");
        return;
    };
    for java in &jdks {
        let tag = java.display().to_string();
        let (run, stats) = guarded_with_stats(java, &["-version"], "mprotect", &[], "jdk-version");
        assert_eq!(run.code, Some(0), "{tag} -version: {}", run.stderr);
        let profile = stat_text(&stats, "writer_profile");
        assert_eq!(profile, "builtin:hotspot", "{tag}: {}", run.stderr);
        let (faults, windows) = (stat(&stats, "write_faults"), stat(&stats, "call_windows"));
        eprintln!("{tag} -version: {faults} write faults in {windows} call windows");
        assert!(
            windows > 0 && faults < 10 * windows.max(100),
            "{tag} -version: {faults} faults, {windows} call windows"
        );
        for tier in [
            &[][..],
            &["-XX:TieredStopAtLevel=1"][..],
            &["-XX:-TieredCompilation"][..],
            &["-Xcomp"][..],
        ] {
            let mut args: Vec<&str> = tier.to_vec();
            args.extend(["-cp", &cp, "HotspotWorkout"]);
            let want = stock_env(java, &args, &[]);
            let what = format!("{tag} {}", tier.join(" "));
            // The control: the workout itself runs on this JDK.
            assert_eq!(want.code, Some(0), "{what} stock: {}", want.stderr);
            assert!(
                want.stdout.contains("stack overflows caught: 3 + 1"),
                "{what} stock: {}",
                want.stdout
            );
            let (got, stats) = guarded_with_stats(java, &args, "mprotect", &[], "jdk-tier");
            assert_eq!(got.stdout, want.stdout, "{what}: {}", got.stderr);
            assert_eq!(got.code, want.code, "{what}: {}", got.stderr);
            assert_eq!(stat(&stats, "denials"), 0, "{what}");
            assert_eq!(
                stat_text(&stats, "writer_profile"),
                "builtin:hotspot",
                "{what}"
            );
        }
    }
}

/// QEMU's user-mode emulator (Debian's qemu-user: a dynamically linked,
/// stripped PIE that exports its TCG entry points) translating real
/// programs into its 128 MiB RWX code buffer, enforced by the built-in
/// `qemu-tcg` profile beside `pcre2-jit` (QEMU links libpcre2-8 through
/// GLib). `-U LD_PRELOAD` keeps jitguard out of the emulated guest. The
/// last guest is a JIT itself (examples/toyjit.c, threads, rewriting its
/// own code): QEMU invalidates the translations of the code it rewrites,
/// and leaves the guest's own RWX memory (QEMU never executes it)
/// unguarded.
#[test]
fn qemu_user_tcg_runs_coreutils_and_a_guest_jit_same_output() {
    let test = "qemu_user_tcg_runs_coreutils_and_a_guest_jit_same_output";
    let Some(qemu) = runtime(test, "qemu-x86_64") else {
        return;
    };
    let toyjit = example("toyjit");
    let toyjit = toyjit.to_str().unwrap();
    let guests: [(&str, &[&str]); 4] = [
        ("ls", &["/bin/ls", "-la", "/usr/bin"]),
        (
            "sort",
            &["/usr/bin/sort", "-r", "/usr/share/common-licenses/GPL-3"],
        ),
        ("sha256sum", &["/usr/bin/sha256sum", "/usr/bin/qemu-x86_64"]),
        ("toyjit", &[toyjit, "--threads", "2", "--repatch"]),
    ];
    for (name, guest) in guests {
        let args: Vec<&str> = ["-U", "LD_PRELOAD"].iter().chain(guest).copied().collect();
        for g in same_output(&qemu, &args, &[], &format!("qemu-{name}")) {
            let profile = stat_text(&g.stats, "writer_profile");
            assert!(profile.contains("builtin:qemu-tcg"), "{name}: {profile}");
            // The code buffer only: the guest's own memory is not code.
            assert_eq!(stat(&g.stats, "regions"), 1, "{name}");
            assert!(stat(&g.stats, "call_windows") > 0, "{name}");
        }
    }
}

// ---------------------------------------------------------------- Erlang

/// `erl -noshell -eval EXPR`'s EXPR: the workout compiled by compile:file
/// into tmpdir/erlang-NAME inside the run itself (so the compiler runs
/// JIT-compiled too), then `then(dir)`, then halt.
fn erl_eval(name: &str, then: impl Fn(&str) -> String) -> String {
    let dir = tmp(&format!("erlang-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = workload("erlang/erl_workout.erl");
    let src = src.trim_end_matches(".erl");
    let d = dir.to_str().unwrap();
    format!(
        r#"{{ok, erl_workout}} = compile:file("{src}", [{{outdir, "{d}"}}, report]), code:add_patha("{d}"), {}, halt()."#,
        then(d)
    )
}

#[test]
fn erlang_beam_jit_dual_mapped_code_same_output() {
    let test = "erlang_beam_jit_dual_mapped_code_same_output";
    let Some(erl) = runtime(test, "erl") else {
        return;
    };
    let eval = erl_eval("workout", |d| format!(r#"erl_workout:main("{d}")"#));
    let got = same_output(&erl, &["-noshell", "-eval", &eval], &[], "erlang");
    for g in &got {
        assert!(g.run.stdout.ends_with("done\n"), "{}", g.run.stdout);
        assert!(g.run.stdout.contains("traced calls: 50"));
        assert_eq!(
            stat_text(&g.stats, "writer_profile"),
            "builtin:erlang-beam-jit"
        );
    }
}

/// BEAM's code memory is one memfd mapped `r-xs` and `rw-s`: the RW view
/// is what jitguard guards (pkey: every page carries one of its keys;
/// mprotect: the view has lost write), and the RX view is left as it was.
#[test]
fn erlang_beam_jit_rw_view_is_guarded() {
    let test = "erlang_beam_jit_rw_view_is_guarded";
    let Some(erl) = runtime(test, "erl") else {
        return;
    };
    for backend in backends() {
        let smaps = tmp(&format!("erlang-{backend}.smaps"));
        let _ = std::fs::remove_file(&smaps);
        let eval = erl_eval(&format!("smaps-{backend}"), |_| {
            format!(
                r#"{{ok, B}} = file:read_file("/proc/self/smaps"), ok = file:write_file("{}", B), io:format("ok~n")"#,
                smaps.display()
            )
        });
        let got = guarded(
            &erl,
            &["-noshell", "-eval", &eval],
            &[("JITGUARD_BACKEND", backend)],
        );
        assert_eq!(got.stdout, "ok\n", "{backend}: {}", got.stderr);
        let maps = jitguard::maps::parse_smaps(&std::fs::read_to_string(&smaps).unwrap());
        let vmem: Vec<_> = maps
            .iter()
            .filter(|m| m.path.starts_with("/memfd:vmem") && !m.private)
            .collect();
        assert!(vmem.iter().any(|m| m.exec), "{backend}: no r-xs view");
        let data: Vec<_> = vmem.iter().filter(|m| !m.exec).collect();
        assert!(!data.is_empty(), "{backend}: no RW view: {vmem:?}");
        for m in data {
            if backend == "pkey" {
                assert!(
                    matches!(m.protection_key, Some(k) if k != 0),
                    "pkey: RW view not keyed: {m:?}"
                );
            } else {
                assert!(!m.write, "mprotect: RW view still writable: {m:?}");
            }
        }
        eprintln!("{backend}: BEAM's RW view guarded: {} mappings", vmem.len());
    }
}

/// A NIF (native code loaded into the VM, examples/beam_rogue_nif.c) that
/// stores through the RW view of BEAM's code memory: without jitguard
/// the executable view shows the change (the control); under jitguard,
/// with the built-in profile, the store is refused and the VM dies by
/// SIGSEGV with a report naming the NIF's writer.
#[test]
fn erlang_a_nif_storing_into_code_memory_is_refused() {
    let test = "erlang_a_nif_storing_into_code_memory_is_refused";
    let Some(erl) = runtime(test, "erl") else {
        return;
    };
    let include = Path::new("/usr/lib/erlang/usr/include");
    if !include.join("erl_nif.h").is_file() {
        eprintln!("SKIPPED {test}: erl_nif.h missing (install erlang-dev)");
        return;
    }
    let inc = format!("-I{}", include.display());
    let nif = example_with(
        "beam_rogue_nif",
        "beam_rogue_nif.so",
        &["-shared", "-fPIC", &inc],
    );
    let nif = nif.to_str().unwrap().trim_end_matches(".so").to_owned();
    let src = workload("erlang/beam_rogue.erl");
    let src = src.trim_end_matches(".erl");
    let dir = tmp("erlang-rogue");
    std::fs::create_dir_all(&dir).unwrap();
    let eval = format!(
        r#"{{ok, beam_rogue}} = compile:file("{src}", [{{outdir, "{}"}}, report]), code:add_patha("{}"), io:format("~p~n", [beam_rogue:store()]), halt()."#,
        dir.display(),
        dir.display()
    );
    let args = ["-noshell", "-eval", eval.as_str()];
    let env = [("BEAM_ROGUE_NIF", nif.as_str())];
    let control = stock_env(&erl, &args, &env);
    assert_eq!(control.stdout, "landed\n", "control: {control:?}");
    for backend in backends() {
        let mut env = env.to_vec();
        env.push(("JITGUARD_BACKEND", backend));
        let got = guarded(&erl, &args, &env);
        assert!(!got.stdout.contains("landed"), "{backend}: {got:?}");
        let report: Vec<&str> = got
            .stderr
            .lines()
            .filter(|l| l.starts_with("jitguard: denied write at "))
            .collect();
        assert_eq!(report.len(), 1, "{backend}: {}", got.stderr);
        for part in [
            "rogue_store",
            "beam_rogue_nif.so",
            "writer profile: builtin:erlang-beam-jit",
        ] {
            assert!(
                report[0].contains(part),
                "{backend}: {part} in {}",
                report[0]
            );
        }
        assert_eq!(got.signal, Some(11), "{backend}: {}", got.stderr);
    }
}
