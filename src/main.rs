//! The `jitguard` command: `check` and `run` (see `jitguard --help`).

mod runner;

use jitguard::cli::{self, Command};
use jitguard::stats::Stats;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::ExitCode;

fn find_lib(explicit: Option<String>) -> Result<PathBuf, String> {
    if let Some(p) = explicit.or_else(|| std::env::var("JITGUARD_LIB").ok()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p.canonicalize().unwrap_or(p))
        } else {
            Err(format!("libjitguard.so not found at {}", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate own binary: {e}"))?;
    let candidates = cli::lib_candidates(&exe);
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.canonicalize().unwrap_or_else(|_| p.clone())),
        None => Err(format!(
            "libjitguard.so not found ({}; build it with `cargo build --release --workspace`, install it with scripts/install.sh, or pass --lib)",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn run(lib: Option<String>, env: Vec<(String, String)>, argv: Vec<String>) -> ExitCode {
    let lib = match find_lib(lib) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jitguard: {e}");
            return ExitCode::from(2);
        }
    };
    let preload = cli::ld_preload(
        &lib.to_string_lossy(),
        std::env::var("LD_PRELOAD").ok().as_deref(),
    );
    let err = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env)
        .env("LD_PRELOAD", preload)
        .exec();
    eprintln!("jitguard: cannot run {:?}: {err}", argv[0]);
    ExitCode::from(127)
}

fn learn(
    lib: Option<String>,
    mut env: Vec<(String, String)>,
    output: String,
    append: bool,
    argv: Vec<String>,
) -> ExitCode {
    let lib = match find_lib(lib) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jitguard: {e}");
            return ExitCode::from(2);
        }
    };
    if !append && !output.contains("%p") {
        let _ = std::fs::remove_file(&output);
    }
    let entries = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| jitguard::profile::Profile::parse(&t).ok())
            .map_or(0, |p| p.learned_entries())
    };
    let before = entries(&output);
    env.push((jitguard::config::vars::MODE.into(), "learn".into()));
    env.push((jitguard::config::vars::PROFILE.into(), output.clone()));
    let preload = cli::ld_preload(
        &lib.to_string_lossy(),
        std::env::var("LD_PRELOAD").ok().as_deref(),
    );
    let status = match std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env)
        .env("LD_PRELOAD", preload)
        .status()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jitguard: cannot run {:?}: {e}", argv[0]);
            return ExitCode::from(127);
        }
    };
    match std::fs::read_to_string(&output)
        .ok()
        .and_then(|t| jitguard::profile::Profile::parse(&t).ok())
    {
        Some(p) => {
            eprintln!(
                "jitguard: {} writer sites in {} modules recorded in {output}",
                p.sites.len(),
                p.modules.len()
            );
            // Merged runs converge when a run adds nothing.
            let new = p.learned_entries().saturating_sub(before);
            eprintln!(
                "jitguard: this run added {new} new sites and functions ({} in all){}",
                p.learned_entries(),
                if append && new == 0 {
                    "; converged: nothing new since the last run"
                } else {
                    ""
                }
            );
        }
        None if output.contains("%p") => {}
        None => {
            eprintln!("jitguard: no profile written to {output} (no guarded code was written?)")
        }
    }
    ExitCode::from(status.code().unwrap_or(128 + status.signal().unwrap_or(0)) as u8)
}

fn check(lib: Option<String>, env: Vec<(String, String)>) -> ExitCode {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let pku = cli::cpu_flag(&cpuinfo, "pku");
    let ospke = cli::cpu_flag(&cpuinfo, "ospke");
    println!("cpu pku flag:    {}", if pku { "yes" } else { "no" });
    println!(
        "cpu ospke flag:  {}",
        if ospke {
            "yes (kernel enabled protection keys)"
        } else {
            "no"
        }
    );
    let lib = match find_lib(lib) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jitguard: {e}");
            return ExitCode::from(2);
        }
    };
    println!("library:         {}", lib.display());
    // /bin/true guards nothing, so its stats path needs %p to be written.
    let pattern =
        std::env::temp_dir().join(format!("jitguard-check-{}-%p.json", std::process::id()));
    let child = std::process::Command::new("/bin/true")
        .envs(env)
        .env("LD_PRELOAD", &lib)
        .env("JITGUARD_STATS", &pattern)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let (out, stats) = match child {
        Ok(c) => {
            let stats = jitguard::config::expand_pid(&pattern.to_string_lossy(), c.id());
            (c.wait_with_output(), stats)
        }
        Err(e) => (Err(e), String::new()),
    };
    let json = std::fs::read_to_string(&stats).unwrap_or_default();
    let _ = std::fs::remove_file(&stats);
    if let Ok(o) = &out {
        let err = String::from_utf8_lossy(&o.stderr);
        for line in err.lines() {
            println!("library says:    {line}");
        }
    }
    let Some(backend) = Stats::text_field(&json, "backend") else {
        println!("result:          the library did not start (no stats were written)");
        return ExitCode::from(1);
    };
    let keys = Stats::field(&json, "keys").unwrap_or(0);
    let policy = Stats::text_field(&json, "policy").unwrap_or_default();
    let why = match (backend.as_str(), pku && ospke) {
        ("pkey", _) => format!("protection keys available; {keys} keys obtained, {policy} policy"),
        (_, false) => {
            "no protection keys on this CPU/kernel: page-table (mprotect) method".to_string()
        }
        (_, true) => "mprotect chosen by configuration (or no key could be allocated)".to_string(),
    };
    println!("backend:         {backend} ({why})");
    // Counted by the library at start-up (JITGUARD_GADGETS not off) in the
    // modules /bin/true loads with it: libc and libjitguard.
    if let Some(n) = Stats::field(&json, "startup_wrpkru") {
        let list = Stats::text_field(&json, "startup_gadgets").unwrap_or_default();
        println!("WRPKRU gadgets:  {n} in the loaded modules ({list})");
        println!(
            "XRSTOR gadgets:  {} memory forms of XRSTOR/XRSTORS in the loaded modules",
            Stats::field(&json, "startup_xrstor").unwrap_or(0)
        );
    }
    ExitCode::SUCCESS
}

fn report(files: Vec<String>) -> ExitCode {
    let mut ok = true;
    for f in files {
        match std::fs::read_to_string(&f)
            .ok()
            .and_then(|j| Stats::from_json(&j))
        {
            Some(s) => print!("{f}\n{}", s.summary()),
            None => {
                eprintln!("jitguard: {f}: not a jitguard stats file");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn bench(args: &[String]) -> ExitCode {
    let lib = match find_lib(None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jitguard: {e}");
            return ExitCode::from(2);
        }
    };
    match runner::parse(args, lib) {
        Ok(None) => {
            print!("{}", runner::BENCH_HELP);
            ExitCode::SUCCESS
        }
        Ok(Some(b)) => match runner::run(b) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("jitguard: bench: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("jitguard: {e}");
            ExitCode::from(2)
        }
    }
}

fn status(json: bool) -> ExitCode {
    let all = jitguard::status::scan();
    if json {
        print!("{}", jitguard::status::to_json(&all));
    } else if all.is_empty() {
        println!("no process on this machine runs under jitguard");
    } else {
        print!("{}", jitguard::status::table(&all));
    }
    ExitCode::SUCCESS
}

fn systemd_dropin(lib: Option<String>, service: String) -> ExitCode {
    let lib = match find_lib(lib) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jitguard: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", cli::systemd_dropin(&service, &lib.to_string_lossy()));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        return bench(&args[1..]);
    }
    match cli::parse(&args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run { lib, env, argv }) => run(lib, env, argv),
        Ok(Command::Check { lib, env }) => check(lib, env),
        Ok(Command::Learn {
            lib,
            env,
            output,
            append,
            argv,
        }) => learn(lib, env, output, append, argv),
        Ok(Command::Report { files }) => report(files),
        Ok(Command::Status { json }) => status(json),
        Ok(Command::SystemdDropin { lib, service }) => systemd_dropin(lib, service),
        Err(e) => {
            eprintln!("jitguard: {e}");
            ExitCode::from(2)
        }
    }
}
