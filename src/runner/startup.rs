//! The start-up kind: short programs run stock and under the library in
//! adjacent pairs; the arithmetic is `jitguard::bench::startup`.

use super::{clean_env, configs, cpu, BenchArgs};
use jitguard::bench::startup::{self as su, StartupProgram};
use jitguard::stats::Stats;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Looks a program up in PATH, passing over version-manager shims
/// (pyenv's `python3` is a shell script that starts dozens of processes;
/// what a user's process pays is the interpreter's start-up).
pub(crate) fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return Path::new(prog).is_file().then(|| PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.ends_with("shims"))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// The selected start-up programs with their resolved command lines, the
/// temporary directory holding the C file, and notes on those skipped.
pub(crate) fn programs(b: &BenchArgs) -> Result<(Vec<StartupProgram>, Vec<String>), String> {
    let dir = b.out.join("startup-tmp");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let c = dir.join("small.c");
    std::fs::write(&c, su::SMALL_C).map_err(|e| format!("{}: {e}", c.display()))?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for mut p in su::startup_programs(&c.to_string_lossy()) {
        if !b.only.is_empty() && !b.only.contains(&p.name) {
            continue;
        }
        match which(&p.argv[0]) {
            Some(path) => {
                p.argv[0] = path.to_string_lossy().into_owned();
                out.push(p);
            }
            None => skipped.push(format!("{} ({} is not installed)", p.name, p.argv[0])),
        }
    }
    Ok((out, skipped))
}

/// A command for one run: stock (`env` None) or under the library with
/// `env` and, if given, a stats file pattern.
pub(crate) fn command(
    b: &BenchArgs,
    argv: &[String],
    env: Option<&[(String, String)]>,
    stats: Option<&Path>,
) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    clean_env(&mut c);
    if let Some(env) = env {
        c.env("LD_PRELOAD", &b.lib);
        for (k, v) in env {
            c.env(k, v);
        }
        if let Some(s) = stats {
            c.env("JITGUARD_STATS", s);
        }
    }
    c
}

/// Sums the stats files of every process of one run (files named
/// `s.PID.json` in `dir`), and removes them.
pub(crate) fn collect_stats(dir: &Path) -> Stats {
    let mut sum = Stats::default();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Some(st) = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|j| Stats::from_json(&j))
        else {
            continue;
        };
        if sum.backend.is_empty() {
            sum.backend = st.backend.clone();
            sum.policy = st.policy.clone();
        }
        sum.write_faults += st.write_faults;
        sum.opens += st.opens;
        sum.call_windows += st.call_windows;
        sum.pages += st.pages;
        sum.handler_ns += st.handler_ns;
        let _ = std::fs::remove_file(e.path());
    }
    sum
}

fn time(c: &mut Command, name: &str) -> Result<f64, String> {
    let t = Instant::now();
    let st = c.status().map_err(|e| format!("cannot run {name}: {e}"))?;
    let s = t.elapsed().as_secs_f64();
    if !st.success() {
        return Err(format!("{name} exited with {st}"));
    }
    Ok(s)
}

/// One program's warm-up and `reps` pairs (stock, guarded) under one
/// configuration.
fn pairs(
    b: &BenchArgs,
    p: &StartupProgram,
    cfg: &str,
    env: &[(String, String)],
    reps: usize,
    stats_dir: &Path,
    backend: &mut String,
) -> Result<su::StartupCell, String> {
    let pattern = stats_dir.join("s.%p.json");
    // The C file's temporary directory is noise in the table.
    let tmp = format!("{}/", b.out.join("startup-tmp").display());
    let cmdline = p.argv.join(" ").replace(&tmp, "");
    // One untimed guarded run with a stats file (its faults and backend),
    // which is also the warm-up; then a warm-up stock run.
    let _ = collect_stats(stats_dir);
    time(&mut command(b, &p.argv, Some(env), Some(&pattern)), &p.name)?;
    let st = collect_stats(stats_dir);
    if backend.is_empty() && cfg == "defaults" {
        *backend = format!("{} backend, {} policy", st.backend, st.policy);
    }
    time(&mut command(b, &p.argv, None, None), &p.name)?;
    let mut pairs = Vec::with_capacity(reps);
    let started = Instant::now();
    for i in 0..reps {
        let s = time(&mut command(b, &p.argv, None, None), &p.name)?;
        let g = time(&mut command(b, &p.argv, Some(env), None), &p.name)?;
        pairs.push((s, g));
        if (i + 1) % 10 == 0 || i + 1 == reps {
            let eta = started.elapsed().as_secs_f64() / (i + 1) as f64 * (reps - i - 1) as f64;
            eprintln!(
                "[{:>3}/{reps}] {:<8} {:<9} last pair stock {:>8.2} ms  guarded {:>8.2} ms  (eta {eta:.0} s)",
                i + 1,
                p.name,
                cfg,
                s * 1e3,
                g * 1e3
            );
        }
    }
    Ok(su::summarise_pairs(
        &p.name,
        cfg,
        &cmdline,
        &pairs,
        st.write_faults,
    ))
}

/// An empty shared library, for the floor of preloading anything at all
/// (the loader opens, maps and relocates it; no code of it runs): built
/// with `cc` into the temporary directory; None, with a note, without cc.
fn empty_preload(b: &BenchArgs) -> Option<PathBuf> {
    let dir = b.out.join("startup-tmp");
    let (c, so) = (dir.join("empty.c"), dir.join("empty-preload.so"));
    std::fs::write(&c, "int jitguard_bench_floor;\n").ok()?;
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        eprintln!(
            "bench: start-up: could not build an empty library with cc, so no empty-preload floor"
        );
    }
    built.then_some(so)
}

pub(crate) fn run(b: &BenchArgs) -> Result<(), String> {
    let reps = b.reps.unwrap_or(30);
    let (programs, skipped) = programs(b)?;
    for s in &skipped {
        eprintln!("bench: start-up: skipping {s}");
    }
    if programs.is_empty() {
        return Err("no start-up program selected or installed".into());
    }
    let stats_dir = b.out.join("startup-stats");
    std::fs::create_dir_all(&stats_dir).map_err(|e| format!("{}: {e}", stats_dir.display()))?;
    // The library's defaults, or the guarded configurations of --configs,
    // each paired with stock in a pass of its own.
    let (_, has_pku, cpu) = cpu();
    let mut guarded: Vec<(String, Vec<(String, String)>)> = Vec::new();
    if b.configs.is_empty() || b.configs.iter().any(|c| c == "defaults") {
        guarded.push(("defaults".to_string(), Vec::new()));
        // What any preload costs, jitguard or not: the part of "defaults"
        // that no change to jitguard's own start-up can remove.
        if let Some(so) = empty_preload(b) {
            guarded.push((
                "empty-preload".to_string(),
                vec![("LD_PRELOAD".to_string(), so.to_string_lossy().into_owned())],
            ));
        }
        if let Some(lib) = &b.before {
            let lib = lib.to_string_lossy().into_owned();
            guarded.push((
                "defaults-before".to_string(),
                vec![("LD_PRELOAD".to_string(), lib)],
            ));
        }
    }
    if !b.configs.is_empty() {
        let (all, _) = configs(b, has_pku);
        guarded.extend(all.into_iter().filter_map(|c| Some((c.name, c.env?))));
    }
    if guarded.is_empty() {
        return Err("--configs selects no configuration this CPU runs".into());
    }
    let mut cells = Vec::new();
    let mut backend = String::new();
    for p in &programs {
        for (cfg, env) in &guarded {
            cells.push(pairs(b, p, cfg, env, reps, &stats_dir, &mut backend)?);
        }
    }
    let _ = std::fs::remove_dir_all(&stats_dir);
    let meta = [
        ("cpu", cpu.clone()),
        ("pairs", reps.to_string()),
        ("defaults", backend.clone()),
        ("skipped", skipped.join("; ")),
    ];
    let write = |name: &str, body: String| -> Result<(), String> {
        std::fs::write(b.out.join(name), body).map_err(|e| format!("{name}: {e}"))
    };
    write("startup.csv", su::startup_csv(&cells))?;
    write("startup.json", su::startup_json(&cells, &meta))?;
    let md = su::startup_markdown(&cells);
    write("startup.md", md.clone())?;
    write(
        "startup.svg",
        jitguard::bench::to_svg(
            &su::startup_chart_cells(&cells),
            &format!("process start-up under jitguard ({cpu}, {reps} pairs)"),
        ),
    )?;
    let here = if backend.is_empty() {
        String::new()
    } else {
        format!("; defaults here: {backend}")
    };
    println!("\nstart-up, stock vs jitguard ({reps} pairs{here}):\n");
    print!("{md}");
    if !skipped.is_empty() {
        println!("\nskipped: {}", skipped.join("; "));
    }
    println!(
        "\nwritten: {}/{{startup.csv,startup.json,startup.md,startup.svg}}",
        b.out.display()
    );
    Ok(())
}
