//! Attestation and the gadget scan on every workload of the suite: the
//! WAMR manifest (Fast JIT), node (JavaScript, WebAssembly, WASI), HotSpot
//! and PCRE2 (grep -P, and pcre2grep where installed), each with a 100 ms
//! sweep on top of the checks on open and at exit. Every run prints what
//! it printed stock, exits the same way, and reports no tampered page;
//! the gadgets the runtimes' own code contains (false positives: none of
//! these programs is malicious) are counted and printed as a table
//! (BENCHMARKS.md, "Detectors").

mod common;

use common::*;
use jitguard::bench::parse_manifest;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV: [(&str, &str); 2] = [("JITGUARD_ATTEST", "100"), ("JITGUARD_GADGETS", "report")];

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED {name} workloads: `{name}` is not installed");
    }
    found
}

struct Row {
    name: String,
    backend: &'static str,
    faults: u64,
    attested: u64,
    checks: u64,
    wrpkru: usize,
    xrstor: usize,
    gadgets: u64,
    attest_ms: f64,
    gadget_ms: f64,
    wall_ms: f64,
}

fn one(rows: &mut Vec<Row>, name: &str, bin: &Path, args: &[&str], extra: &[(&str, &str)]) {
    let mut c = Command::new(bin);
    c.args(args).env_remove("LD_PRELOAD");
    for (k, v) in extra {
        c.env(k, v);
    }
    let want: Run = c.output().expect("run").into();
    for backend in backends() {
        let mut env: Vec<(&str, &str)> = ENV.to_vec();
        env.extend_from_slice(extra);
        let t0 = std::time::Instant::now();
        let (got, stats) = guarded_with_stats(
            bin,
            args,
            backend,
            &env,
            &format!("suite-{}-{backend}", name.replace('/', "-")),
        );
        assert_eq!(
            got.stdout, want.stdout,
            "{name} under {backend} (exit {:?}, signal {:?}): {}",
            got.code, got.signal, got.stderr
        );
        assert_eq!(
            (got.code, got.signal),
            (want.code, want.signal),
            "{name} under {backend}: {}",
            got.stderr
        );
        assert!(
            !got.stderr.contains("tampered code"),
            "{name} under {backend}: false tamper report: {}",
            got.stderr
        );
        assert_eq!(stat(&stats, "tampered"), 0, "{name} under {backend}");
        assert_eq!(stat(&stats, "denials"), 0, "{name} under {backend}");
        assert_eq!(stat_text(&stats, "attest"), "100");
        let lines: Vec<&str> = got
            .stderr
            .lines()
            .filter(|l| l.starts_with("jitguard: gadget "))
            .collect();
        rows.push(Row {
            name: name.to_string(),
            backend,
            faults: stat(&stats, "write_faults"),
            attested: stat(&stats, "attested_pages"),
            checks: stat(&stats, "attest_checks"),
            wrpkru: lines.iter().filter(|l| l.contains(" WRPKRU ")).count(),
            xrstor: lines.iter().filter(|l| l.contains(" XRSTOR")).count(),
            gadgets: stat(&stats, "gadgets"),
            attest_ms: stat(&stats, "attest_ns") as f64 / 1e6,
            gadget_ms: stat(&stats, "gadget_ns") as f64 / 1e6,
            wall_ms: t0.elapsed().as_secs_f64() * 1e3,
        });
    }
}

fn wamr(rows: &mut Vec<Row>) {
    let iwasm = root().join("target/wamr/iwasm");
    if !iwasm.is_file() {
        eprintln!("SKIPPED WAMR workloads: {} missing", iwasm.display());
        return;
    }
    let manifest =
        parse_manifest(&std::fs::read_to_string(root().join("workloads/manifest.tsv")).unwrap());
    for w in manifest {
        let module = root().join(format!("target/workloads/{}.wasm", w.name));
        if !module.is_file() {
            continue;
        }
        let args = w.iwasm_args(&module.to_string_lossy());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        one(rows, &format!("wamr/{}", w.name), &iwasm, &args, &[]);
    }
}

fn runtime_file(rel: &str) -> String {
    root()
        .join("workloads/runtimes")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn node(rows: &mut Vec<Row>) {
    let Some(node) = on_path("node") else { return };
    let k = "--no-wasm-memory-protection-keys";
    for js in ["jit_hot.js", "wasm_hot.js"] {
        let s = runtime_file(&format!("node/{js}"));
        one(rows, &format!("node/{js}"), &node, &[k, &s], &[]);
    }
    let runner = root().join("workloads/run-node.mjs");
    for name in ["crc", "many_funcs_small"] {
        let m = root().join(format!("target/workloads/{name}.wasm"));
        if m.is_file() {
            let a = [k, runner.to_str().unwrap(), m.to_str().unwrap()];
            one(rows, &format!("node/wasi-{name}"), &node, &a, &[]);
        }
    }
}

fn hotspot(rows: &mut Vec<Row>) {
    let Some(java) = on_path("java") else { return };
    let src = runtime_file("hotspot/HotspotWorkout.java");
    one(rows, "hotspot/HotspotWorkout", &java, &[&src], &[]);
}

fn pcre2(rows: &mut Vec<Row>) {
    let Some(py) = on_path("python3") else { return };
    let corpus = tmp("suite-pcre2-corpus.txt");
    let out = Command::new(py)
        .arg(runtime_file("pcre2/gen_corpus.py"))
        .arg("5000")
        .output()
        .unwrap();
    std::fs::write(&corpus, out.stdout).unwrap();
    let pats = runtime_file("pcre2/patterns.txt");
    let c = corpus.to_str().unwrap();
    // grep -P compiles one pattern per process (with -f it guarded nothing).
    let list = std::fs::read_to_string(&pats).unwrap();
    if let Some(grep) = on_path("grep") {
        let env = [("LC_ALL", "C.UTF-8")];
        for (i, p) in list.lines().filter(|l| !l.is_empty()).take(4).enumerate() {
            one(
                rows,
                &format!("pcre2/grep-P-{i}"),
                &grep,
                &["-P", "-n", "-o", p, c],
                &env,
            );
        }
    }
    if let Some(p) = on_path("pcre2grep") {
        one(
            rows,
            "pcre2/pcre2grep",
            &p,
            &["-u", "-n", "-o", "-f", &pats, c],
            &[],
        );
    }
}

#[test]
fn every_workload_runs_with_attestation_and_no_false_tamper_report() {
    let mut rows = Vec::new();
    wamr(&mut rows);
    node(&mut rows);
    hotspot(&mut rows);
    pcre2(&mut rows);
    assert!(!rows.is_empty());
    let mut md = String::from(
        "| workload | backend | write faults | pages attested | checks | tampered | gadgets (WRPKRU / XRSTOR*) | attest ms | of which scan ms | run ms | attest share |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | 0 | {} ({} / {}) | {:.1} | {:.1} | {:.0} | {:.2}% |\n",
            r.name,
            r.backend,
            r.faults,
            r.attested,
            r.checks,
            r.gadgets,
            r.wrpkru,
            r.xrstor,
            r.attest_ms,
            r.gadget_ms,
            r.wall_ms,
            100.0 * r.attest_ms / r.wall_ms
        ));
    }
    let with = rows.iter().filter(|r| r.gadgets > 0).count();
    let total: u64 = rows.iter().map(|r| r.gadgets).sum();
    let pages: u64 = rows.iter().map(|r| r.attested).sum();
    md.push_str(&format!(
        "\n{} runs, {with} with a gadget in written code; {total} gadgets over {pages} page records taken\n",
        rows.len()
    ));
    std::fs::write(tmp("attest-suite.md"), &md).unwrap();
    eprintln!("{md}");
}
