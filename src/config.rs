//! Configuration from the environment.
//!
//! Parsing is a pure function of a variable lookup so that every bad value
//! can be tested. A bad value never stops the host program: it yields one
//! warning line naming the variable and the accepted values, and the safe
//! default is used instead.

use std::fmt;

/// What jitguard does with the writes it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Writes the writer policy refuses are denied (the process dies by SIGSEGV).
    Enforce,
    /// Refused writes are reported and counted, then allowed.
    Audit,
    /// Every write is allowed and its writing site recorded into the profile.
    Learn,
    /// The library loads but guards nothing.
    Off,
}

/// How code pages are given protection keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// One key per page from the hashed-address policy (the paper's scheme).
    Hashed,
    /// Every page under one key (V8's scheme).
    Single,
}

/// The mechanism that write-protects code pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Pick `pkey` where the CPU and kernel have protection keys, else `mprotect`.
    Auto,
    /// Intel MPK protection keys; write opened per thread through PKRU.
    Pkey,
    /// Page-table permissions: pages RX, one page RW (without X) per emit.
    Mprotect,
}

/// How long an opened page stays open for a trusted writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Until the trusted writer function returns (its return address is
    /// redirected through jitguard's reseal trampoline). Writers no
    /// profile trusts always get `Insn`.
    Call,
    /// One instruction (trap-flag step).
    Insn,
}

impl Window {
    pub fn name(self) -> &'static str {
        match self {
            Window::Call => "call",
            Window::Insn => "insn",
        }
    }
}

/// Where denial, audit and tamper reports go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// stderr, and the system log too when stderr is not a terminal or is
    /// closed (a daemon's stderr goes nowhere an administrator looks).
    Auto,
    Stderr,
    Syslog,
    Both,
}

impl Report {
    pub fn name(self) -> &'static str {
        match self {
            Report::Auto => "auto",
            Report::Stderr => "stderr",
            Report::Syslog => "syslog",
            Report::Both => "both",
        }
    }

    /// (to stderr, to syslog) given whether stderr is an open terminal.
    pub fn destinations(self, stderr_is_open_tty: bool) -> (bool, bool) {
        match self {
            Report::Auto => (true, !stderr_is_open_tty),
            Report::Stderr => (true, false),
            Report::Syslog => (false, true),
            Report::Both => (true, true),
        }
    }
}

/// The system log socket reports go to unless `JITGUARD_SYSLOG_SOCKET` says otherwise.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// The configuration file read unless `JITGUARD_CONFIG` names another.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/jitguard.conf";

/// Log verbosity of the library's own stderr messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// The whole configuration of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub policy: Policy,
    pub backend: Backend,
    pub window: Window,
    pub profile: Option<String>,
    pub stats: Option<String>,
    pub log: LogLevel,
    pub report: Report,
    /// Path of the AF_UNIX datagram socket of the system log.
    pub syslog_socket: String,
    /// Code attestation (`JITGUARD_ATTEST`).
    pub attest: Attest,
    /// The scan of written code for PKRU-loading gadgets (`JITGUARD_GADGETS`).
    pub gadgets: Gadgets,
    /// Whether jitguard's own state is write-protected (`JITGUARD_VAULT`);
    /// off only to show, in a control run, what an attack on it would do.
    pub vault: bool,
    /// The seccomp filter (`JITGUARD_SECCOMP`, see `seccomp_policy`).
    pub seccomp: Seccomp,
    /// Key prediction (`JITGUARD_PREDICT`, see `predict`): how many of a
    /// writer site's last windows a new window opens the keys of; 0 is off.
    pub predict: u8,
}

/// `JITGUARD_SECCOMP`: which seccomp filter start-up installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seccomp {
    /// None.
    Off,
    /// The vmwrite rules, only where installing a filter changes nothing
    /// else (no_new_privs already set, or CAP_SYS_ADMIN).
    Auto,
    /// The vmwrite rules, setting no_new_privs if needed.
    Vmwrite,
    /// The vmwrite and trap rules (raw mapping and key calls), setting
    /// no_new_privs if needed; refuses exec.
    Trap,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Enforce,
            policy: Policy::Hashed,
            backend: Backend::Auto,
            window: Window::Call,
            profile: None,
            stats: None,
            log: LogLevel::Warn,
            report: Report::Auto,
            syslog_socket: DEFAULT_SYSLOG_SOCKET.to_string(),
            attest: DEFAULT_ATTEST,
            gadgets: GADGETS.default,
            vault: true,
            seccomp: Seccomp::Auto,
            predict: 0,
        }
    }
}

/// One problem found while reading the environment, already worded for stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names of the environment variables, in one place for the CLI and the docs.
pub mod vars {
    pub const MODE: &str = "JITGUARD_MODE";
    pub const POLICY: &str = "JITGUARD_POLICY";
    pub const BACKEND: &str = "JITGUARD_BACKEND";
    pub const PROFILE: &str = "JITGUARD_PROFILE";
    pub const WINDOW: &str = "JITGUARD_WINDOW";
    pub const STATS: &str = "JITGUARD_STATS";
    pub const LOG: &str = "JITGUARD_LOG";
    pub const REPORT: &str = "JITGUARD_REPORT";
    pub const SYSLOG_SOCKET: &str = "JITGUARD_SYSLOG_SOCKET";
    pub const ATTEST: &str = "JITGUARD_ATTEST";
    pub const GADGETS: &str = "JITGUARD_GADGETS";
    pub const VAULT: &str = "JITGUARD_VAULT";
    pub const SECCOMP: &str = "JITGUARD_SECCOMP";
    pub const PREDICT: &str = "JITGUARD_PREDICT";
    /// The configuration file (default /etc/jitguard.conf).
    pub const CONFIG: &str = "JITGUARD_CONFIG";
    /// Every setting the library reads, from the environment or the file.
    pub const ALL: [&str; 14] = [
        MODE,
        POLICY,
        BACKEND,
        WINDOW,
        PROFILE,
        STATS,
        LOG,
        REPORT,
        SYSLOG_SOCKET,
        ATTEST,
        GADGETS,
        VAULT,
        SECCOMP,
        PREDICT,
    ];
}

/// An enumerated variable: its name, accepted spellings and their values.
struct Choice<T: 'static> {
    var: &'static str,
    options: &'static [(&'static str, T)],
    default: T,
    default_name: &'static str,
}

impl<T: Copy> Choice<T> {
    /// The accepted spellings, comma-separated.
    fn accepted(&self) -> String {
        let names: Vec<&str> = self.options.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    fn lookup(&self, raw: &str) -> Option<T> {
        let wanted = raw.trim().to_ascii_lowercase();
        self.options
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, v)| *v)
    }

    fn parse(&self, raw: Option<&str>, warnings: &mut Vec<ConfigWarning>) -> T {
        let Some(raw) = raw else { return self.default };
        let wanted = raw.trim().to_ascii_lowercase();
        if let Some((_, v)) = self.options.iter().find(|(n, _)| *n == wanted) {
            return *v;
        }
        let accepted: Vec<&str> = self.options.iter().map(|(n, _)| *n).collect();
        warnings.push(ConfigWarning(format!(
            "jitguard: {}={:?} is not one of {}; using {}",
            self.var,
            raw,
            accepted.join(", "),
            self.default_name
        )));
        self.default
    }
}

const MODE: Choice<Mode> = Choice {
    var: vars::MODE,
    options: &[
        ("enforce", Mode::Enforce),
        ("audit", Mode::Audit),
        ("learn", Mode::Learn),
        ("off", Mode::Off),
    ],
    // A typo must not silently turn protection off: the safe default is enforce.
    default: Mode::Enforce,
    default_name: "enforce",
};

const POLICY: Choice<Policy> = Choice {
    var: vars::POLICY,
    options: &[("hashed", Policy::Hashed), ("single", Policy::Single)],
    default: Policy::Hashed,
    default_name: "hashed",
};

const BACKEND: Choice<Backend> = Choice {
    var: vars::BACKEND,
    options: &[
        ("auto", Backend::Auto),
        ("pkey", Backend::Pkey),
        ("mprotect", Backend::Mprotect),
    ],
    default: Backend::Auto,
    default_name: "auto",
};

const VAULT: Choice<bool> = Choice {
    var: vars::VAULT,
    options: &[("on", true), ("off", false)],
    default: true,
    default_name: "on",
};

const WINDOW: Choice<Window> = Choice {
    var: vars::WINDOW,
    options: &[("call", Window::Call), ("insn", Window::Insn)],
    default: Window::Call,
    default_name: "call",
};

const REPORT: Choice<Report> = Choice {
    var: vars::REPORT,
    options: &[
        ("auto", Report::Auto),
        ("stderr", Report::Stderr),
        ("syslog", Report::Syslog),
        ("both", Report::Both),
    ],
    default: Report::Auto,
    default_name: "auto (stderr, and syslog when stderr is not a terminal)",
};

const SECCOMP: Choice<Seccomp> = Choice {
    var: vars::SECCOMP,
    options: &[
        ("off", Seccomp::Off),
        ("auto", Seccomp::Auto),
        ("vmwrite", Seccomp::Vmwrite),
        ("trap", Seccomp::Trap),
    ],
    default: Seccomp::Auto,
    default_name: "auto",
};

/// Off by default: prediction widens a window (SECURITY.md).
const PREDICT: Choice<u8> = Choice {
    var: vars::PREDICT,
    options: &[("off", 0), ("1", 1), ("2", 2), ("4", 4), ("8", 8)],
    default: 0,
    default_name: "off",
};

const LOG: Choice<LogLevel> = Choice {
    var: vars::LOG,
    options: &[
        ("off", LogLevel::Off),
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ],
    default: LogLevel::Warn,
    default_name: "warn",
};

impl Config {
    /// Reads the configuration through `get` (normally `std::env::var`).
    /// Empty variables count as unset.
    pub fn from_lookup<F>(get: F) -> (Config, Vec<ConfigWarning>)
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut warnings = Vec::new();
        let mode_raw = get(vars::MODE);
        let policy_raw = get(vars::POLICY);
        let backend_raw = get(vars::BACKEND);
        let log_raw = get(vars::LOG);
        let config = Config {
            mode: MODE.parse(mode_raw.as_deref(), &mut warnings),
            policy: POLICY.parse(policy_raw.as_deref(), &mut warnings),
            backend: BACKEND.parse(backend_raw.as_deref(), &mut warnings),
            window: WINDOW.parse(get(vars::WINDOW).as_deref(), &mut warnings),
            profile: get(vars::PROFILE),
            stats: get(vars::STATS),
            log: LOG.parse(log_raw.as_deref(), &mut warnings),
            report: REPORT.parse(get(vars::REPORT).as_deref(), &mut warnings),
            syslog_socket: get(vars::SYSLOG_SOCKET)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| DEFAULT_SYSLOG_SOCKET.to_string()),
            attest: parse_attest(get(vars::ATTEST).as_deref(), &mut warnings),
            gadgets: GADGETS.parse(get(vars::GADGETS).as_deref(), &mut warnings),
            vault: VAULT.parse(get(vars::VAULT).as_deref(), &mut warnings),
            seccomp: SECCOMP.parse(get(vars::SECCOMP).as_deref(), &mut warnings),
            predict: PREDICT.parse(get(vars::PREDICT).as_deref(), &mut warnings),
        };
        (config, warnings)
    }

    /// The whole start-up read: the configuration file (`JITGUARD_CONFIG`,
    /// default /etc/jitguard.conf; its global lines, then every
    /// `[program ...]` section matching `exe`), then the environment, which
    /// overrides the file. A missing default file is silent; a missing
    /// `JITGUARD_CONFIG` file, an unreadable one and each bad line get one
    /// warning naming file and line, and the safe default.
    ///
    /// `exe` names the program; it is asked only when the file has
    /// `[program ...]` sections (a process that reads no file never looks
    /// up its own path: `/proc/self/exe` costs tens of microseconds at
    /// every start-up).
    pub fn load<E>(exe: E) -> (Config, Vec<ConfigWarning>)
    where
        E: FnOnce() -> Option<std::path::PathBuf>,
    {
        let env = |name: &str| std::env::var(name).ok();
        let (path, explicit) = match env(vars::CONFIG).filter(|v| !v.trim().is_empty()) {
            Some(p) => (p.trim().to_string(), true),
            None => (DEFAULT_CONFIG_FILE.to_string(), false),
        };
        let mut pre = Vec::new();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                pre.push(ConfigWarning(format!(
                    "jitguard: {path}: cannot read the configuration file ({e}); using the environment and defaults"
                )));
                None
            }
        };
        let exe = text
            .as_deref()
            .filter(|t| crate::conffile::has_program_sections(t))
            .and_then(|_| exe())
            .map(|p| p.to_string_lossy().into_owned());
        let (config, mut warnings) = Self::from_file_and_env(
            text.as_deref().map(|t| (path.as_str(), t)),
            exe.as_deref(),
            env,
        );
        pre.append(&mut warnings);
        (config, pre)
    }

    /// `load` as a pure function: `file` is (path, text), `exe` the
    /// program's path, `env` the environment lookup.
    pub fn from_file_and_env<F>(
        file: Option<(&str, &str)>,
        exe: Option<&str>,
        env: F,
    ) -> (Config, Vec<ConfigWarning>)
    where
        F: Fn(&str) -> Option<String>,
    {
        let (values, mut warnings) = match file {
            Some((path, text)) => crate::conffile::settings(path, text, exe),
            None => (Vec::new(), Vec::new()),
        };
        let (config, mut env_warnings) = Self::from_lookup(|name| {
            env(name).filter(|v| !v.trim().is_empty()).or_else(|| {
                values
                    .iter()
                    .rev()
                    .find(|(var, _)| *var == name)
                    .map(|(_, v)| v.clone())
            })
        });
        warnings.append(&mut env_warnings);
        (config, warnings)
    }

    /// Reads the process environment.
    pub fn from_env() -> (Config, Vec<ConfigWarning>) {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Checks a value of an enumerated setting: Err(accepted values, safe
/// default) when it is not one. Settings that take any text are always Ok.
pub fn check_value(var: &str, raw: &str) -> Result<(), (String, &'static str)> {
    fn one<T: Copy>(c: &Choice<T>, raw: &str) -> Result<(), (String, &'static str)> {
        c.lookup(raw)
            .map(|_| ())
            .ok_or_else(|| (c.accepted(), c.default_name))
    }
    match var {
        vars::MODE => one(&MODE, raw),
        vars::POLICY => one(&POLICY, raw),
        vars::BACKEND => one(&BACKEND, raw),
        vars::WINDOW => one(&WINDOW, raw),
        vars::VAULT => one(&VAULT, raw),
        vars::LOG => one(&LOG, raw),
        vars::REPORT => one(&REPORT, raw),
        vars::GADGETS => one(&GADGETS, raw),
        vars::PREDICT => one(&PREDICT, raw),
        vars::ATTEST => parse_attest_value(raw)
            .map(|_| ())
            .ok_or_else(|| (ATTEST_ACCEPTED.to_string(), DEFAULT_ATTEST_NAME)),
        _ => Ok(()),
    }
}

/// The safe default of an enumerated setting, as it is spelled.
pub fn default_spelling(var: &str) -> Option<&'static str> {
    match var {
        vars::MODE => Some("enforce"),
        vars::POLICY => Some("hashed"),
        vars::BACKEND => Some("auto"),
        vars::WINDOW => Some("call"),
        vars::VAULT => Some("on"),
        vars::LOG => Some("warn"),
        vars::REPORT => Some("auto"),
        vars::ATTEST => Some(DEFAULT_ATTEST_NAME),
        vars::GADGETS => Some(GADGETS.default_name),
        vars::PREDICT => Some(PREDICT.default_name),
        _ => None,
    }
}

/// When guarded code is checked against the hashes recorded at its
/// last reseal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attest {
    /// `open` under the mprotect backend, `off` under pkey, where a window
    /// opens a whole key and so every check and record covers every page
    /// under it (BENCHMARKS.md, "Detectors").
    Auto,
    Off,
    /// Before a sealed page is opened again, and at exit.
    Open,
    /// As `Open`, and every so many milliseconds from jitguard's own thread.
    Sweep {
        ms: u32,
    },
}

impl Attest {
    pub fn enabled(self) -> bool {
        !matches!(self, Attest::Off | Attest::Auto)
    }

    /// What `Auto` means for the backend in force (others stay).
    pub fn resolve(self, backend: Backend) -> Attest {
        match (self, backend) {
            (Attest::Auto, Backend::Pkey) => Attest::Off,
            (Attest::Auto, _) => Attest::Open,
            (a, _) => a,
        }
    }

    pub fn sweep_ms(self) -> Option<u32> {
        match self {
            Attest::Sweep { ms } => Some(ms),
            _ => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Attest::Auto => "auto".into(),
            Attest::Off => "off".into(),
            Attest::Open => "open".into(),
            Attest::Sweep { ms } => format!("{ms}"),
        }
    }
}

/// The default: see BENCHMARKS.md ("Detectors") for the measured cost.
pub const DEFAULT_ATTEST: Attest = Attest::Auto;
const DEFAULT_ATTEST_NAME: &str = "auto";
const ATTEST_ACCEPTED: &str = "auto, off, open, or a sweep period in milliseconds (1-3600000)";
/// The longest sweep period accepted (an hour).
pub const MAX_SWEEP_MS: u32 = 3_600_000;

fn parse_attest_value(raw: &str) -> Option<Attest> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "auto" => Some(Attest::Auto),
        "off" => Some(Attest::Off),
        "open" => Some(Attest::Open),
        n => match n.parse::<u32>() {
            Ok(ms) if (1..=MAX_SWEEP_MS).contains(&ms) => Some(Attest::Sweep { ms }),
            _ => None,
        },
    }
}

fn parse_attest(raw: Option<&str>, warnings: &mut Vec<ConfigWarning>) -> Attest {
    let Some(raw) = raw else {
        return DEFAULT_ATTEST;
    };
    parse_attest_value(raw).unwrap_or_else(|| {
        warnings.push(ConfigWarning(format!(
            "jitguard: {}={raw:?} is not one of {ATTEST_ACCEPTED}; using {DEFAULT_ATTEST_NAME}",
            vars::ATTEST
        )));
        DEFAULT_ATTEST
    })
}

/// What the scan of written code does with a PKRU-loading gadget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gadgets {
    /// One report line per gadget; the code stays as written.
    Report,
    /// Reported, and in enforce mode the process is killed at the reseal
    /// that would leave the gadget executable.
    Deny,
    Off,
}

impl Gadgets {
    pub fn name(self) -> &'static str {
        match self {
            Gadgets::Report => "report",
            Gadgets::Deny => "deny",
            Gadgets::Off => "off",
        }
    }
}

const GADGETS: Choice<Gadgets> = Choice {
    var: vars::GADGETS,
    options: &[
        ("report", Gadgets::Report),
        ("deny", Gadgets::Deny),
        ("off", Gadgets::Off),
    ],
    default: Gadgets::Report,
    default_name: "report",
};

/// Expands `%p` in a stats path to the process id (`%%` is a literal `%`).
pub fn expand_pid(path: &str, pid: u32) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('p') => {
                    chars.next();
                    out.push_str(&pid.to_string());
                    continue;
                }
                Some('%') => {
                    chars.next();
                    out.push('%');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
            Mode::Learn => "learn",
            Mode::Off => "off",
        }
    }
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Hashed => "hashed",
            Policy::Single => "single",
        }
    }
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Pkey => "pkey",
            Backend::Mprotect => "mprotect",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_unset() {
        let (c, w) = parse(&[]);
        assert_eq!(c, Config::default());
        assert!(w.is_empty());
    }

    #[test]
    fn reads_every_variable() {
        let (c, w) = parse(&[
            ("JITGUARD_MODE", "audit"),
            ("JITGUARD_POLICY", "single"),
            ("JITGUARD_BACKEND", "mprotect"),
            ("JITGUARD_PROFILE", "/tmp/p"),
            ("JITGUARD_STATS", "/tmp/s.%p.json"),
            ("JITGUARD_LOG", "debug"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.policy, Policy::Single);
        assert_eq!(c.backend, Backend::Mprotect);
        assert_eq!(c.profile.as_deref(), Some("/tmp/p"));
        assert_eq!(c.stats.as_deref(), Some("/tmp/s.%p.json"));
        assert_eq!(c.log, LogLevel::Debug);
    }

    #[test]
    fn case_and_space_are_forgiven() {
        let (c, w) = parse(&[("JITGUARD_MODE", " Learn "), ("JITGUARD_BACKEND", "PKEY")]);
        assert!(w.is_empty());
        assert_eq!(c.mode, Mode::Learn);
        assert_eq!(c.backend, Backend::Pkey);
    }

    #[test]
    fn bad_values_warn_once_each_and_fall_back_safely() {
        let (c, w) = parse(&[
            ("JITGUARD_MODE", "enforcee"),
            ("JITGUARD_POLICY", "random"),
            ("JITGUARD_BACKEND", "mpk"),
            ("JITGUARD_LOG", "loud"),
        ]);
        assert_eq!(c.mode, Mode::Enforce, "a typo must not turn protection off");
        assert_eq!(c.policy, Policy::Hashed);
        assert_eq!(c.backend, Backend::Auto);
        assert_eq!(c.log, LogLevel::Warn);
        assert_eq!(w.len(), 4);
        let first = &w[0].0;
        assert!(
            first.starts_with("jitguard: JITGUARD_MODE=\"enforcee\""),
            "{first}"
        );
        assert!(first.contains("enforce, audit, learn, off"), "{first}");
        assert!(first.ends_with("using enforce"), "{first}");
        assert!(w.iter().all(|x| !x.0.contains('\n')), "one line each");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let (c, w) = parse(&[("JITGUARD_MODE", ""), ("JITGUARD_STATS", " ")]);
        assert!(w.is_empty());
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.stats, None);
    }

    #[test]
    fn attest_and_gadget_settings() {
        assert_eq!(parse(&[]).0.attest, DEFAULT_ATTEST);
        assert_eq!(parse(&[]).0.gadgets, Gadgets::Report);
        let (c, w) = parse(&[("JITGUARD_ATTEST", "off"), ("JITGUARD_GADGETS", "deny")]);
        assert_eq!(
            (c.attest, c.gadgets, w.len()),
            (Attest::Off, Gadgets::Deny, 0)
        );
        let (c, _) = parse(&[("JITGUARD_ATTEST", " 100 ")]);
        assert_eq!(c.attest, Attest::Sweep { ms: 100 });
        assert_eq!(c.attest.sweep_ms(), Some(100));
        for bad in ["0", "-5", "fast", "3600001", "1.5"] {
            let (c, w) = parse(&[("JITGUARD_ATTEST", bad)]);
            assert_eq!(c.attest, DEFAULT_ATTEST, "{bad}");
            assert_eq!(w.len(), 1, "{bad}");
            assert!(w[0].0.starts_with("jitguard: JITGUARD_ATTEST="), "{}", w[0]);
            assert!(!w[0].0.contains('\n'));
        }
        let (c, w) = parse(&[("JITGUARD_GADGETS", "kill")]);
        assert_eq!((c.gadgets, w.len()), (Gadgets::Report, 1));
        assert_eq!(parse(&[("JITGUARD_ATTEST", "auto")]).0.attest, Attest::Auto);
        assert_eq!(Attest::Auto.resolve(Backend::Pkey), Attest::Off);
        assert_eq!(Attest::Auto.resolve(Backend::Mprotect), Attest::Open);
        assert_eq!(
            Attest::Sweep { ms: 5 }.resolve(Backend::Pkey),
            Attest::Sweep { ms: 5 }
        );
        assert!(!Attest::Auto.enabled());
        assert!(check_value(vars::ATTEST, "250").is_ok());
        assert!(check_value(vars::ATTEST, "never").is_err());
        assert!(check_value(vars::GADGETS, "deny").is_ok());
        assert_eq!(default_spelling(vars::GADGETS), Some("report"));
    }

    #[test]
    fn pid_expansion() {
        assert_eq!(expand_pid("/tmp/s.%p.json", 42), "/tmp/s.42.json");
        assert_eq!(expand_pid("/tmp/%%p-%p", 7), "/tmp/%p-7");
        assert_eq!(expand_pid("/tmp/none", 7), "/tmp/none");
        assert_eq!(expand_pid("%", 7), "%");
    }
}
