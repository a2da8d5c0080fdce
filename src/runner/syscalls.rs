//! `--syscalls`: each workload once stock and once per guarded
//! configuration under `strace -f -c`, related to the write faults and
//! windows of jitguard's stats; the arithmetic is `jitguard::strace`.

use super::startup::{collect_stats, programs};
use super::{clean_env, configs, cpu, module_for, BenchArgs};
use jitguard::bench::WorkloadSpec;
use jitguard::strace::{self, SyscallRow};
use std::path::Path;
use std::process::{Command, Stdio};

/// What to run: a name, the command line and its expected exit status.
struct Job {
    name: String,
    argv: Vec<String>,
    exit: i32,
}

fn strace_present() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `job` under `strace -f -c -o out`; the library and its variables
/// go to the traced program only (`-E`), never to strace itself.
fn traced(
    b: &BenchArgs,
    job: &Job,
    env: Option<&[(String, String)]>,
    stats: &Path,
    out: &Path,
) -> Result<String, String> {
    let mut c = Command::new("strace");
    c.args(["-f", "-c", "-o"]).arg(out);
    clean_env(&mut c);
    if let Some(env) = env {
        c.arg("-E")
            .arg(format!("LD_PRELOAD={}", b.lib.display()))
            .arg("-E")
            .arg(format!("JITGUARD_STATS={}", stats.display()));
        for (k, v) in env {
            c.arg("-E").arg(format!("{k}={v}"));
        }
    }
    c.arg("--").args(&job.argv);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let o = c
        .output()
        .map_err(|e| format!("cannot run strace for {}: {e}", job.name))?;
    if o.status.code() != Some(job.exit) {
        return Err(format!(
            "{} under strace exited with {} (expected {}): {}",
            job.name,
            o.status,
            job.exit,
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))
}

pub(crate) fn run(b: &BenchArgs, wamr: &[WorkloadSpec], startup: bool) -> Result<(), String> {
    if !strace_present() {
        return Err("--syscalls needs strace, which is not installed here \
                    (apt-get install strace)"
            .into());
    }
    let mut jobs = Vec::new();
    for w in wamr {
        let module = module_for(b, w)?;
        let argv = if w.kind == "micro" {
            vec![module.to_string_lossy().into_owned()]
        } else {
            let mut a = vec![b.iwasm.to_string_lossy().into_owned()];
            a.extend(w.iwasm_args(&module.to_string_lossy()));
            a
        };
        jobs.push(Job {
            name: w.name.clone(),
            argv,
            exit: w.expected_exit,
        });
    }
    let mut skipped = Vec::new();
    if startup {
        let (progs, s) = programs(b)?;
        skipped.extend(s);
        jobs.extend(progs.into_iter().map(|p| Job {
            name: p.name,
            argv: p.argv,
            exit: 0,
        }));
    }
    let (_, has_pku, cpu) = cpu();
    let (configs, cfg_skipped) = configs(b, has_pku);
    skipped.extend(cfg_skipped);
    for s in &skipped {
        eprintln!("bench: skipping {s}");
    }
    let dir = b.out.join("strace");
    let stats_dir = b.out.join("strace-stats");
    for d in [&dir, &stats_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let pattern = stats_dir.join("s.%p.json");
    let total = jobs.len() * configs.len();
    let mut done = 0;
    let mut rows: Vec<SyscallRow> = Vec::new();
    for job in &jobs {
        let mut stock = None;
        for cfg in &configs {
            let file = dir.join(format!("{}.{}.txt", job.name, cfg.name));
            let _ = collect_stats(&stats_dir);
            let text = traced(b, job, cfg.env.as_deref(), &pattern, &file)?;
            let counts = strace::parse_summary(&text);
            let st = collect_stats(&stats_dir);
            done += 1;
            eprintln!(
                "[{done:>3}/{total}] {:<16} {:<9} {:>8} calls  {:>7} write faults",
                job.name,
                cfg.name,
                counts.values().map(|c| c.calls).sum::<u64>(),
                st.write_faults
            );
            match &stock {
                None if cfg.env.is_none() => stock = Some(counts),
                None => return Err("the stock configuration must run first".into()),
                Some(s) => rows.push(strace::compare(
                    &job.name,
                    &cfg.name,
                    s,
                    &counts,
                    st.write_faults,
                    st.opens,
                    st.call_windows,
                )),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&stats_dir);
    let meta = [
        ("cpu", cpu),
        ("method", "strace -f -c, one run per workload and configuration; calls are the guarded run's less the stock run's".to_string()),
        ("skipped", skipped.join("; ")),
    ];
    let write = |name: &str, body: String| -> Result<(), String> {
        std::fs::write(b.out.join(name), body).map_err(|e| format!("{name}: {e}"))
    };
    write("syscalls.csv", strace::to_csv(&rows))?;
    write("syscalls.json", strace::to_json(&rows, &meta))?;
    let md = strace::to_markdown(&rows);
    write("syscalls.md", md.clone())?;
    println!("\nsystem calls per write fault (guarded run less stock run, strace -f -c):\n");
    print!("{md}");
    if !skipped.is_empty() {
        println!("\nskipped: {}", skipped.join("; "));
    }
    println!(
        "\nwritten: {}/{{syscalls.csv,syscalls.json,syscalls.md}}, raw summaries in {}",
        b.out.display(),
        dir.display()
    );
    Ok(())
}
