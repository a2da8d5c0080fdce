//! Command-line parsing for the `jitguard` binary (pure, so it is tested
//! without running anything).

use crate::config::vars;

pub const MAIN_HELP: &str = "\
jitguard: per-page protection keys for the JIT code of unmodified programs

USAGE:
    jitguard <COMMAND> [OPTIONS]

COMMANDS:
    check      Say which backend would protect a program here, and why
    run        Run a program under libjitguard.so
    learn      Run a benign program in learn mode and write its writer profile
    report     Summarise stats files written by JITGUARD_STATS
    status     List the processes running under jitguard, with live counters
    systemd-dropin SERVICE
               Print a systemd drop-in that runs SERVICE under jitguard
    bench      Stock vs jitguard: WAMR workloads, process start-up, system calls
               per write fault (see bench --help)
    help       Show this message (also: --help, -h; `jitguard COMMAND --help`)

ENVIRONMENT (read by libjitguard.so; `run` sets them from its options):
    JITGUARD_MODE      enforce | audit | learn | off         (default enforce)
    JITGUARD_POLICY    hashed | single                       (default hashed)
    JITGUARD_BACKEND   auto | pkey | mprotect                (default auto)
    JITGUARD_PROFILE   path of the writer profile
    JITGUARD_WINDOW    call | insn                           (default call)
    JITGUARD_STATS     path of the JSON stats file written at exit (%p = pid)
    JITGUARD_LOG       off | error | warn | info | debug | trace (default warn)
    JITGUARD_REPORT    stderr | syslog | both | auto  where denials go (default
                       auto: stderr, plus syslog when stderr is not a terminal)
    JITGUARD_SYSLOG_SOCKET  the system log socket (default /dev/log)
    JITGUARD_CONFIG    the configuration file (default /etc/jitguard.conf)
    JITGUARD_VAULT     on | off  protect jitguard's own state (default on;
                       off only for control runs of attacks on it)
    JITGUARD_LIB       path of libjitguard.so for `run` and `check` (default:
                       beside the jitguard binary, or PREFIX/lib/jitguard/)

CONFIGURATION FILE (/etc/jitguard.conf; the environment overrides it):
    mode = audit                  # keys: the variables above, lower case,
    report = syslog               # without JITGUARD_
    [program /usr/bin/iwasm]      # this executable only (or: [program iwasm])
    stats = /var/log/jitguard/iwasm.%p.json
";

pub const STATUS_HELP: &str = "\
jitguard status: the processes on this machine running under jitguard

USAGE:
    jitguard status [--json]

Finds every process that has libjitguard.so mapped (/proc/*/maps) and reads
its status record and live counters through /proc/PID/mem: backend, mode,
policy, writer profile, guarded pages, write faults, denials, tampering.
Reading another process's memory needs root (or ptrace rights over it);
processes that cannot be read are listed with the reason.

    --json    one JSON object per process, in an array
";

pub const DROPIN_HELP: &str = "\
jitguard systemd-dropin: print a systemd drop-in that guards a service

USAGE:
    jitguard systemd-dropin [--lib PATH] SERVICE

Prints a drop-in for SERVICE (e.g. myjit.service) that preloads
libjitguard.so and sends reports to the system log. Install it with:
    jitguard systemd-dropin myjit.service > /etc/systemd/system/myjit.service.d/jitguard.conf
    systemctl daemon-reload && systemctl restart myjit.service
";

pub const RUN_HELP: &str = "\
jitguard run: run a program with its W+X memory guarded

USAGE:
    jitguard run [OPTIONS] -- CMD [ARGS...]

OPTIONS:
    --mode MODE          enforce | audit | learn | off
    --policy POLICY      hashed (one key per page, adjacent pages differ)
                         | single (one key for all code, like V8)
    --backend BACKEND    auto | pkey | mprotect
    --stats PATH         write a JSON stats file at exit (%p = pid)
    --profile PATH       writer profile
    --window WINDOW      call (a trusted writer's pages stay open until it
                         returns) | insn (one instruction)
    --seccomp SECCOMP    off | auto | vmwrite | trap (see SECURITY.md:
                         trap refuses exec and sets no_new_privs)
    --predict N          off | 1 | 2 | 4 | 8: pkey call windows also open
                         the keys their writer's last N windows faulted
                         on (fewer faults, wider windows: SECURITY.md)
    --log LEVEL          off | error | warn | info | debug | trace
    --lib PATH           libjitguard.so to preload
    -h, --help           this message

The program runs with LD_PRELOAD=libjitguard.so (prepended to any existing
LD_PRELOAD) and the JITGUARD_* variables above; its exit status is the
program's.
";

pub const LEARN_HELP: &str = "\
jitguard learn: record which code writes a program's JIT memory

USAGE:
    jitguard learn -o PROFILE [--append] [RUN OPTIONS] -- CMD [ARGS...]

OPTIONS:
    -o, --output PATH    the profile to write (%p = pid)
    --append             add to PATH instead of starting it afresh
    (and every `jitguard run` option but --mode and --profile)

Runs CMD under libjitguard.so with JITGUARD_MODE=learn: every write to
guarded code memory is allowed, and its writing site (the instruction, or
for libc routines such as memcpy the calling function) is recorded as
module + offset. At exit the sites go into PROFILE, a text file you can
read and edit. Run the program on benign inputs that exercise its JIT,
then enforce the profile with JITGUARD_PROFILE=PROFILE (or `jitguard run
--profile PROFILE`): writes from any other site are denied. A profile
holds for the build it was learned on (modules carry their build id).
In a stripped module a writer has no name, and one run reaches only some
of its instructions: its whole function is recorded too (`function`
entries, by the module's unwind tables). Learn over several runs with
--append: each run says how many new sites and functions it added, and a
run that adds none means the profile has converged for those inputs.
";

pub const CHECK_HELP: &str = "\
jitguard check: say which backend would protect a program on this machine

USAGE:
    jitguard check [--lib PATH] [--backend BACKEND] [--policy POLICY]

Reads /proc/cpuinfo for the pku and ospke flags, then loads libjitguard.so
into /bin/true and reports what it chose: backend, policy and the number of
protection keys it obtained. Exit status 0 when a backend is usable.
";

pub const REPORT_HELP: &str = "\
jitguard report: summarise stats files

USAGE:
    jitguard report FILE.json...

Prints, for each JSON stats file a run wrote (JITGUARD_STATS or
`jitguard run --stats`), the backend, faults, windows opened, denials and
time spent in jitguard's handlers.
";

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help(&'static str),
    Check {
        lib: Option<String>,
        env: Vec<(String, String)>,
    },
    Run {
        lib: Option<String>,
        env: Vec<(String, String)>,
        argv: Vec<String>,
    },
    Report {
        files: Vec<String>,
    },
    Status {
        json: bool,
    },
    SystemdDropin {
        lib: Option<String>,
        service: String,
    },
    Learn {
        lib: Option<String>,
        env: Vec<(String, String)>,
        output: String,
        append: bool,
        argv: Vec<String>,
    },
}

/// Takes `learn`'s own options out of its arguments (before `--`).
fn learn_options(args: &[String]) -> Result<(Option<String>, bool, Vec<String>), String> {
    let mut output = None;
    let mut append = false;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || !a.starts_with('-') {
            rest.extend_from_slice(&args[i..]);
            break;
        }
        if a == "-o" || a == "--output" {
            i += 1;
            output = Some(args.get(i).cloned().ok_or("learn: -o needs a path")?);
        } else if let Some(v) = a.strip_prefix("--output=") {
            output = Some(v.to_string());
        } else if a == "--append" {
            append = true;
        } else if a.starts_with("--mode") || a.starts_with("--profile") {
            return Err(format!("learn: {a} is set by learn itself"));
        } else {
            rest.push(a.clone());
            // Keep an option's separate value with it.
            if OPTIONS.iter().any(|(o, _, _)| o == a) || a == "--lib" {
                i += 1;
                if let Some(v) = args.get(i) {
                    rest.push(v.clone());
                }
            }
        }
        i += 1;
    }
    Ok((output, append, rest))
}

/// Accepted values of each option that maps to a variable.
const OPTIONS: &[(&str, &str, &[&str])] = &[
    ("--mode", vars::MODE, &["enforce", "audit", "learn", "off"]),
    ("--policy", vars::POLICY, &["hashed", "single"]),
    ("--backend", vars::BACKEND, &["auto", "pkey", "mprotect"]),
    ("--stats", vars::STATS, &[]),
    ("--profile", vars::PROFILE, &[]),
    ("--window", vars::WINDOW, &["call", "insn"]),
    (
        "--seccomp",
        vars::SECCOMP,
        &["off", "auto", "vmwrite", "trap"],
    ),
    ("--predict", vars::PREDICT, &["off", "1", "2", "4", "8"]),
    (
        "--log",
        vars::LOG,
        &["off", "error", "warn", "info", "debug", "trace"],
    ),
];

/// Options parsed up to `--` or the first non-option argument.
struct Parsed {
    lib: Option<String>,
    env: Vec<(String, String)>,
    rest: Vec<String>,
    help: bool,
}

/// Parses options up to `--` (or the first non-option, or the end).
fn parse_options(args: &[String]) -> Result<Parsed, String> {
    let mut lib = None;
    let mut help = false;
    let mut env = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            let rest = args[i + 1..].to_vec();
            return Ok(Parsed {
                lib,
                env,
                rest,
                help,
            });
        }
        if a == "--help" || a == "-h" {
            help = true;
            i += 1;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        if name == "--lib" {
            lib = Some(value()?);
        } else if let Some((opt, var, accepted)) = OPTIONS.iter().find(|(o, _, _)| *o == name) {
            let v = value()?;
            if !accepted.is_empty() && !accepted.contains(&v.as_str()) {
                return Err(format!(
                    "{opt} {v:?}: expected one of {}",
                    accepted.join(", ")
                ));
            }
            env.push((var.to_string(), v));
        } else if a.starts_with('-') {
            return Err(format!("unknown option {a:?}"));
        } else {
            // First non-option: the command itself (`--` is optional).
            let rest = args[i..].to_vec();
            return Ok(Parsed {
                lib,
                env,
                rest,
                help,
            });
        }
        i += 1;
    }
    Ok(Parsed {
        lib,
        env,
        rest: Vec::new(),
        help,
    })
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some(cmd) = args.first() else {
        return Ok(Command::Help(MAIN_HELP));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help(MAIN_HELP)),
        "learn" => {
            let (output, append, rest) = learn_options(rest)?;
            let p = parse_options(&rest)?;
            if p.help {
                return Ok(Command::Help(LEARN_HELP));
            }
            let output = output.ok_or("learn: -o PROFILE is required (see learn --help)")?;
            if p.rest.is_empty() {
                return Err(
                    "learn: no command given (jitguard learn -o PROFILE -- CMD ARGS...)".into(),
                );
            }
            Ok(Command::Learn {
                lib: p.lib,
                env: p.env,
                output,
                append,
                argv: p.rest,
            })
        }
        "run" => {
            let p = parse_options(rest)?;
            if p.help {
                return Ok(Command::Help(RUN_HELP));
            }
            if p.rest.is_empty() {
                return Err("run: no command given (jitguard run [OPTIONS] -- CMD ARGS...)".into());
            }
            Ok(Command::Run {
                lib: p.lib,
                env: p.env,
                argv: p.rest,
            })
        }
        "check" => {
            let p = parse_options(rest)?;
            if p.help {
                return Ok(Command::Help(CHECK_HELP));
            }
            if let Some(extra) = p.rest.first() {
                return Err(format!("check: unexpected argument {extra:?}"));
            }
            Ok(Command::Check {
                lib: p.lib,
                env: p.env,
            })
        }
        "report" => {
            if rest.is_empty() || rest.iter().any(|a| a == "--help" || a == "-h") {
                return Ok(Command::Help(REPORT_HELP));
            }
            Ok(Command::Report {
                files: rest.to_vec(),
            })
        }
        "status" => {
            let mut json = false;
            for a in rest {
                match a.as_str() {
                    "--json" => json = true,
                    "--help" | "-h" => return Ok(Command::Help(STATUS_HELP)),
                    other => return Err(format!("status: unexpected argument {other:?}")),
                }
            }
            Ok(Command::Status { json })
        }
        "systemd-dropin" => {
            let p = parse_options(rest)?;
            if p.help {
                return Ok(Command::Help(DROPIN_HELP));
            }
            if !p.env.is_empty() {
                return Err(
                    "systemd-dropin: only --lib is accepted (set the rest in /etc/jitguard.conf)"
                        .into(),
                );
            }
            match p.rest.as_slice() {
                [service] => Ok(Command::SystemdDropin {
                    lib: p.lib,
                    service: service.clone(),
                }),
                _ => {
                    Err("systemd-dropin: give one service name (see systemd-dropin --help)".into())
                }
            }
        }
        other => Err(format!("unknown command {other:?} (try jitguard --help)")),
    }
}

/// Where `jitguard` looks for libjitguard.so, given its own path: beside
/// the binary (a build tree: target/release/), then the installed layouts
/// PREFIX/lib/jitguard/ and PREFIX/lib/ for PREFIX/bin/jitguard.
pub fn lib_candidates(exe: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![exe.with_file_name("libjitguard.so")];
    if let Some(prefix) = exe.parent().and_then(|bin| bin.parent()) {
        v.push(prefix.join("lib/jitguard/libjitguard.so"));
        v.push(prefix.join("lib/libjitguard.so"));
    }
    v
}

/// A systemd drop-in that runs `service` with libjitguard.so preloaded.
pub fn systemd_dropin(service: &str, lib: &str) -> String {
    format!(
        "# /etc/systemd/system/{service}.d/jitguard.conf
# Runs {service} under jitguard; then: systemctl daemon-reload && systemctl restart {service}
# Settings: /etc/jitguard.conf (a [program ...] section for this service's executable).
# Denials go to the system log (journalctl -t jitguard); a service's stderr is no terminal.
[Service]
Environment=LD_PRELOAD={lib}
Environment=JITGUARD_REPORT=both
# jitguard needs W+X memory: do not combine with MemoryDenyWriteExecute=yes.
MemoryDenyWriteExecute=no
"
    )
}

/// Prepends `lib` to an existing LD_PRELOAD value.
pub fn ld_preload(lib: &str, existing: Option<&str>) -> String {
    match existing.filter(|e| !e.trim().is_empty()) {
        Some(e) => format!("{lib}:{e}"),
        None => lib.to_string(),
    }
}

/// Whether /proc/cpuinfo text shows a flag on the first CPU.
pub fn cpu_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn learn_takes_its_output_and_passes_run_options() {
        let c = parse(&s(&[
            "learn",
            "-o",
            "p.txt",
            "--backend",
            "mprotect",
            "--",
            "./jit",
            "-o",
            "x",
        ]))
        .unwrap();
        match c {
            Command::Learn {
                output,
                append,
                env,
                argv,
                ..
            } => {
                assert_eq!(output, "p.txt");
                assert!(!append);
                assert_eq!(
                    env,
                    vec![("JITGUARD_BACKEND".to_string(), "mprotect".to_string())]
                );
                assert_eq!(
                    argv,
                    s(&["./jit", "-o", "x"]),
                    "the program's own -o is its own"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&s(&["learn", "--output=p", "--append", "prog"])).unwrap(),
            Command::Learn { append: true, .. }
        ));
        assert!(parse(&s(&["learn", "--", "prog"]))
            .unwrap_err()
            .contains("-o PROFILE is required"));
        assert!(parse(&s(&["learn", "-o", "p", "--mode", "audit", "prog"])).is_err());
        assert_eq!(
            parse(&s(&["learn", "--help"])).unwrap(),
            Command::Help(LEARN_HELP)
        );
    }

    #[test]
    fn run_with_options_and_command() {
        let c = parse(&s(&[
            "run",
            "--policy",
            "single",
            "--stats=/tmp/x.%p",
            "--",
            "ls",
            "-l",
        ]))
        .unwrap();
        assert_eq!(
            c,
            Command::Run {
                lib: None,
                env: vec![
                    ("JITGUARD_POLICY".into(), "single".into()),
                    ("JITGUARD_STATS".into(), "/tmp/x.%p".into())
                ],
                argv: s(&["ls", "-l"]),
            }
        );
    }

    #[test]
    fn run_without_double_dash() {
        let c = parse(&s(&["run", "--mode", "audit", "./prog", "--help"])).unwrap();
        match c {
            Command::Run { argv, .. } => assert_eq!(argv, s(&["./prog", "--help"])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_everywhere() {
        assert_eq!(parse(&[]).unwrap(), Command::Help(MAIN_HELP));
        assert_eq!(parse(&s(&["--help"])).unwrap(), Command::Help(MAIN_HELP));
        assert_eq!(
            parse(&s(&["run", "--help"])).unwrap(),
            Command::Help(RUN_HELP)
        );
        assert_eq!(
            parse(&s(&["check", "-h"])).unwrap(),
            Command::Help(CHECK_HELP)
        );
        // --help after -- belongs to the program.
        assert!(matches!(
            parse(&s(&["run", "--", "x", "--help"])).unwrap(),
            Command::Run { .. }
        ));
    }

    #[test]
    fn errors_are_clear() {
        assert!(parse(&s(&["run", "--policy", "random", "--", "x"]))
            .unwrap_err()
            .contains("hashed, single"));
        assert!(parse(&s(&["run"])).unwrap_err().contains("no command"));
        assert!(parse(&s(&["run", "--bogus", "x"]))
            .unwrap_err()
            .contains("--bogus"));
        assert!(parse(&s(&["frobnicate"]))
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse(&s(&["run", "--mode"]))
            .unwrap_err()
            .contains("needs a value"));
    }

    #[test]
    fn preload_prepends() {
        assert_eq!(ld_preload("/a.so", None), "/a.so");
        assert_eq!(ld_preload("/a.so", Some("/b.so")), "/a.so:/b.so");
        assert_eq!(ld_preload("/a.so", Some(" ")), "/a.so");
    }

    #[test]
    fn status_and_dropin() {
        assert_eq!(
            parse(&s(&["status"])).unwrap(),
            Command::Status { json: false }
        );
        assert_eq!(
            parse(&s(&["status", "--json"])).unwrap(),
            Command::Status { json: true }
        );
        assert!(parse(&s(&["status", "-x"])).is_err());
        assert_eq!(
            parse(&s(&["systemd-dropin", "myjit.service"])).unwrap(),
            Command::SystemdDropin {
                lib: None,
                service: "myjit.service".into()
            }
        );
        assert!(parse(&s(&["systemd-dropin"])).is_err());
        let d = systemd_dropin("myjit.service", "/usr/local/lib/jitguard/libjitguard.so");
        assert!(d.contains(
            "[Service]\nEnvironment=LD_PRELOAD=/usr/local/lib/jitguard/libjitguard.so\n"
        ));
        assert!(d.contains("/etc/systemd/system/myjit.service.d/jitguard.conf"));
    }

    #[test]
    fn library_is_found_beside_the_binary_or_in_the_prefix() {
        use std::path::PathBuf;
        assert_eq!(
            lib_candidates(std::path::Path::new("/usr/local/bin/jitguard")),
            vec![
                PathBuf::from("/usr/local/bin/libjitguard.so"),
                PathBuf::from("/usr/local/lib/jitguard/libjitguard.so"),
                PathBuf::from("/usr/local/lib/libjitguard.so"),
            ]
        );
    }

    #[test]
    fn cpu_flags() {
        let info = "processor: 0\nflags\t\t: fpu vme pku ospke\n";
        assert!(cpu_flag(info, "pku") && cpu_flag(info, "ospke") && !cpu_flag(info, "avx"));
    }
}
