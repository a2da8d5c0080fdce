//! `jitguard bench`: runs stock WAMR and WAMR under jitguard side by side,
//! interleaved (each repetition runs every configuration of a workload
//! back to back, in a rotating order), and writes CSV, JSON, a Markdown
//! table and an SVG chart. The start-up kind (`runner/startup.rs`) and
//! the system-call report (`runner/syscalls.rs`) share its helpers.

use jitguard::bench::{self, BenchConfig, Cell, Sample, WorkloadSpec};
use jitguard::stats::Stats;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

mod help;
mod startup;
mod syscalls;

pub use help::BENCH_HELP;

pub struct BenchArgs {
    /// `None`: the default of each kind (5 runs, 30 start-up pairs).
    pub reps: Option<usize>,
    pub kinds: Vec<String>,
    pub only: Vec<String>,
    pub out: PathBuf,
    pub iwasm: PathBuf,
    pub manifest: PathBuf,
    pub lib: PathBuf,
    pub windows: Vec<String>,
    /// Guarded configurations to keep (empty: all).
    pub configs: Vec<String>,
    pub syscalls: bool,
    /// `JITGUARD_SECCOMP` settings to compare (empty: the default only).
    pub seccomp: Vec<String>,
    /// Each guarded configuration also with every detector off and with
    /// each one alone (`--detectors`).
    pub detectors: bool,
    /// Another build of the library to run beside each guarded
    /// configuration (`--before PATH`: `NAME-before`).
    pub before: Option<PathBuf>,
    /// Key prediction depths to run beside each hashed configuration
    /// (`--predict N,N`: `NAME-predictN`).
    pub predict: Vec<u8>,
}

fn repo_root() -> PathBuf {
    // The binary lives in ROOT/target/release.
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn parse(args: &[String], lib: PathBuf) -> Result<Option<BenchArgs>, String> {
    let root = repo_root();
    let mut b = BenchArgs {
        reps: None,
        kinds: vec![
            "kernel".into(),
            "big".into(),
            "compile".into(),
            "micro".into(),
        ],
        only: Vec::new(),
        out: root.join("target/bench"),
        iwasm: root.join("target/wamr/iwasm"),
        manifest: root.join("workloads/manifest.tsv"),
        lib,
        windows: vec!["call".into()],
        configs: Vec::new(),
        syscalls: false,
        seccomp: Vec::new(),
        detectors: false,
        before: None,
        predict: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--help" || a == "-h" {
            return Ok(None);
        }
        if a == "--detectors" {
            b.detectors = true;
            i += 1;
            continue;
        }
        if a == "--startup" || a == "--syscalls" {
            if a == "--startup" {
                b.kinds = vec!["startup".into()];
            } else {
                b.syscalls = true;
            }
            i += 1;
            continue;
        }
        let v = args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{a} needs a value"))?;
        match a {
            "--reps" => {
                b.reps = Some(
                    v.parse()
                        .map_err(|_| format!("--reps {v:?}: not a number"))?,
                )
            }
            "--kinds" => b.kinds = v.split(',').map(String::from).collect(),
            "--workloads" => b.only = v.split(',').map(String::from).collect(),
            "--out" => b.out = v.into(),
            "--iwasm" => b.iwasm = v.into(),
            "--manifest" => b.manifest = v.into(),
            "--lib" => b.lib = v.into(),
            "--before" => b.before = Some(v.into()),
            "--predict" => {
                for d in v.split(',') {
                    // The depths JITGUARD_PREDICT accepts, but not `off`.
                    let depth = jitguard::config::check_value(jitguard::config::vars::PREDICT, d)
                        .ok()
                        .and_then(|()| d.trim().parse::<u8>().ok())
                        .ok_or_else(|| format!("--predict: {d:?} is not 1, 2, 4 or 8"))?;
                    if !b.predict.contains(&depth) {
                        b.predict.push(depth);
                    }
                }
            }
            "--configs" => b.configs = v.split(',').map(String::from).collect(),
            "--windows" => {
                b.windows = v.split(',').map(String::from).collect();
                if let Some(bad) = b.windows.iter().find(|w| *w != "call" && *w != "insn") {
                    return Err(format!("--windows: {bad:?} is not call or insn"));
                }
            }
            "--seccomp" => {
                b.seccomp = v.split(',').map(String::from).collect();
                if let Some(bad) = b.seccomp.iter().find(|s| !bench::seccomp::is_setting(s)) {
                    return Err(format!(
                        "--seccomp: {bad:?} is not off, auto, vmwrite or trap"
                    ));
                }
            }
            _ => return Err(format!("bench: unknown option {a:?}")),
        }
        i += 2;
    }
    if b.reps == Some(0) {
        return Err("--reps must be at least 1".into());
    }
    Ok(Some(b))
}

fn run_once(
    b: &BenchArgs,
    w: &WorkloadSpec,
    cfg: &BenchConfig,
    module: &Path,
    stats: &Path,
) -> Result<Sample, String> {
    // A `micro` workload is a native program run as is (module = its path).
    let mut c = if w.kind == "micro" {
        Command::new(module)
    } else {
        let mut c = Command::new(&b.iwasm);
        c.args(w.iwasm_args(&module.to_string_lossy()));
        c
    };
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    clean_env(&mut c);
    let _ = std::fs::remove_file(stats);
    if let Some(env) = &cfg.env {
        c.env("LD_PRELOAD", &b.lib).env("JITGUARD_STATS", stats);
        for (k, v) in env {
            c.env(k, v);
        }
    }
    let t = Instant::now();
    let out = c
        .output()
        .map_err(|e| format!("cannot run {} for {}: {e}", b.iwasm.display(), w.name))?;
    let seconds = t.elapsed().as_secs_f64();
    if out.status.code() != Some(w.expected_exit) {
        return Err(format!(
            "{} under {} exited with {:?}: {}",
            w.name,
            cfg.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let mut s = Sample {
        seconds,
        ..Default::default()
    };
    if cfg.env.is_some() {
        let json = std::fs::read_to_string(stats)
            .map_err(|e| format!("no stats from {} under {}: {e}", w.name, cfg.name))?;
        let st = Stats::from_json(&json).ok_or("unreadable stats")?;
        s.write_faults = st.write_faults;
        s.opens = st.opens;
        s.handler_ns = st.handler_ns;
        s.exposed_pages_sum = st.exposed_pages_sum;
        s.pages = st.pages;
    }
    Ok(s)
}

/// Compiles workloads/micro/NAME.c into the output directory (host cc).
fn build_micro(b: &BenchArgs, w: &WorkloadSpec) -> Result<PathBuf, String> {
    let root = b
        .manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let src = root.join(format!("workloads/micro/{}.c", w.name));
    let out = b.out.join(&w.name);
    let fresh = match (out.metadata(), src.metadata()) {
        (Ok(o), Ok(s)) => o.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        let st = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .map_err(|e| format!("cc for {}: {e}", w.name))?;
        if !st.success() {
            return Err(format!("compiling {} failed", src.display()));
        }
    }
    Ok(out)
}

/// The selected workloads of the manifest (and the native micro
/// benchmark); empty when only start-up programs are selected.
pub(crate) fn wamr_workloads(b: &BenchArgs) -> Result<Vec<WorkloadSpec>, String> {
    if b.kinds.iter().all(|k| k == "startup") {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&b.manifest)
        .map_err(|e| format!("{}: {e}", b.manifest.display()))?;
    let mut all = bench::parse_manifest(&text);
    all.push(bench::memcpy_micro());
    Ok(all
        .into_iter()
        .filter(|w| b.kinds.contains(&w.kind))
        .filter(|w| b.only.is_empty() || b.only.contains(&w.name))
        .collect())
}

/// The file a workload runs: its .wasm module, or the compiled native
/// program of a micro workload.
pub(crate) fn module_for(b: &BenchArgs, w: &WorkloadSpec) -> Result<PathBuf, String> {
    if w.kind == "micro" {
        return build_micro(b, w);
    }
    Ok(b.manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("target/workloads")
        .join(format!("{}.wasm", w.name)))
}

/// /proc/cpuinfo, whether the pkey backend can run, and the CPU's name.
pub(crate) fn cpu() -> (String, bool, String) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has_pku =
        jitguard::cli::cpu_flag(&cpuinfo, "pku") && jitguard::cli::cpu_flag(&cpuinfo, "ospke");
    let name = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    (cpuinfo, has_pku, name)
}

/// Stock and the guarded configurations this CPU runs (per window length,
/// filtered by --configs), and notes on those skipped.
pub(crate) fn configs(b: &BenchArgs, has_pku: bool) -> (Vec<BenchConfig>, Vec<String>) {
    let (configs, skipped) = bench::standard_configs(has_pku);
    let configs = bench::with_windows(configs, &b.windows);
    let configs: Vec<_> = bench::seccomp::with_seccomp(configs, &b.seccomp)
        .into_iter()
        .filter(|c| c.env.is_none() || b.configs.is_empty() || b.configs.contains(&c.name))
        .collect();
    // After the filter: `--configs mprotect --detectors` keeps the variants.
    let configs = if b.detectors {
        bench::with_detectors(configs)
    } else {
        configs
    };
    let configs = bench::with_predict(configs, &b.predict);
    if !b.predict.is_empty() && !configs.iter().any(|c| c.name.contains("-predict")) {
        eprintln!("bench: --predict adds nothing here: no hashed (pkey) configuration runs");
    }
    let before = b.before.as_ref().map(|p| p.to_string_lossy().into_owned());
    (bench::with_before(configs, before.as_deref()), skipped)
}

/// Removes the library and its variables from a child's environment.
pub(crate) fn clean_env(c: &mut Command) {
    c.env_remove("LD_PRELOAD");
    for k in jitguard::config::vars::ALL {
        c.env_remove(k);
    }
}

pub fn run(b: BenchArgs) -> Result<(), String> {
    let workloads = wamr_workloads(&b)?;
    let want_startup = b.kinds.iter().any(|k| k == "startup");
    if workloads.is_empty() && !want_startup {
        return Err("no workload selected".into());
    }
    std::fs::create_dir_all(&b.out).map_err(|e| format!("{}: {e}", b.out.display()))?;
    if b.syscalls {
        return syscalls::run(&b, &workloads, want_startup);
    }
    if !workloads.is_empty() {
        run_wamr(&b, workloads)?;
    }
    if want_startup {
        startup::run(&b)?;
    }
    Ok(())
}

fn run_wamr(b: &BenchArgs, workloads: Vec<WorkloadSpec>) -> Result<(), String> {
    let reps = b.reps.unwrap_or(5);
    let (_, has_pku, cpu) = cpu();
    let (configs, skipped) = configs(b, has_pku);
    for s in &skipped {
        eprintln!("bench: skipping {s}");
    }
    let stats = b.out.join("run-stats.json");
    let total = reps * workloads.len() * configs.len();
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); configs.len()]; workloads.len()];
    let started = Instant::now();
    let mut done = 0;
    for rep in 0..reps {
        for (wi, w) in workloads.iter().enumerate() {
            let module = module_for(b, w)?;
            for k in 0..configs.len() {
                // Rotate the order every repetition.
                let ci = (k + rep + wi) % configs.len();
                let s = run_once(b, w, &configs[ci], &module, &stats)?;
                done += 1;
                let eta = started.elapsed().as_secs_f64() / done as f64 * (total - done) as f64;
                eprintln!(
                    "[{done:>4}/{total}] rep {} {:<16} {:<9} {:>8.3} s  {:>8} faults  (eta {:.0} s)",
                    rep + 1,
                    w.name,
                    configs[ci].name,
                    s.seconds,
                    s.write_faults,
                    eta
                );
                samples[wi][ci].push(s);
            }
        }
    }
    let mut cells: Vec<Cell> = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        let stock = bench::median(&samples[wi][0].iter().map(|s| s.seconds).collect::<Vec<_>>());
        for (ci, cfg) in configs.iter().enumerate() {
            cells.push(bench::summarise(
                &w.name,
                &cfg.name,
                &samples[wi][ci],
                stock,
            ));
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let meta = [
        ("cpu", cpu.clone()),
        ("host", host.trim().to_string()),
        ("pku", has_pku.to_string()),
        ("reps", reps.to_string()),
        ("skipped", skipped.join("; ")),
    ];
    let write = |name: &str, body: String| -> Result<(), String> {
        std::fs::write(b.out.join(name), body).map_err(|e| format!("{name}: {e}"))
    };
    write("results.csv", bench::to_csv(&cells))?;
    write("results.json", bench::to_json(&cells, &meta))?;
    let mut md = bench::to_markdown(&cells);
    md.push_str("\n| config | geometric mean × stock |\n|---|---:|\n");
    for cfg in configs.iter().skip(1) {
        let r: Vec<f64> = cells
            .iter()
            .filter(|c| c.config == cfg.name)
            .map(|c| c.ratio)
            .collect();
        md.push_str(&format!("| {} | {:.3} |\n", cfg.name, bench::geomean(&r)));
    }
    write("table.md", md.clone())?;
    write(
        "chart.svg",
        bench::to_svg(
            &cells,
            &format!("jitguard on stock WAMR Fast JIT ({cpu}, {} reps)", reps),
        ),
    )?;
    let _ = std::fs::remove_file(&stats);
    print!("{md}");
    if !skipped.is_empty() {
        println!("\nskipped: {}", skipped.join("; "));
    }
    println!(
        "\nwritten: {}/{{results.csv,results.json,table.md,chart.svg}}",
        b.out.display()
    );
    Ok(())
}
