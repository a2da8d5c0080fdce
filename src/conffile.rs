//! The configuration file, `/etc/jitguard.conf` (or `JITGUARD_CONFIG`).
//!
//! ```text
//! # defaults for every program
//! mode = enforce
//! report = syslog
//!
//! [program /usr/bin/iwasm]     # this executable (the path of /proc/self/exe)
//! stats = /var/log/jitguard/iwasm.%p.json
//!
//! [program node]               # any executable named node
//! mode = audit
//! ```
//!
//! Keys are the environment variables' names without `JITGUARD_`, in lower
//! case. Lines before any section apply to every program; a matching
//! `[program ...]` section overrides them (sections apply in file order).
//! Environment variables override the file (see `Config::from_file_and_env`).
//!
//! A bad line never stops the program: it gets one warning naming the file
//! and the line, and the setting gets its safe default (a bad `mode` means
//! `enforce`, never off). Lines of a section header that cannot be read are
//! ignored, so a typo in `[program ...]` cannot widen its settings to every
//! program.

use crate::config::{check_value, default_spelling, vars, ConfigWarning};

/// The variable a file key stands for (`mode` -> `JITGUARD_MODE`).
fn var_of(key: &str) -> Option<&'static str> {
    let wanted = format!("JITGUARD_{}", key.trim().to_ascii_uppercase());
    vars::ALL.iter().copied().find(|v| *v == wanted)
}

/// What a `[...]` header selects.
#[derive(Debug, PartialEq, Eq)]
enum Section {
    /// Lines apply to this process.
    Applies,
    /// A program section for some other program.
    Other,
    /// A header that could not be read (already warned): lines ignored.
    Broken,
}

/// Whether `[program WHO]` names `exe`: a path must be the executable's
/// path exactly; a bare name is matched against its file name.
pub fn program_matches(who: &str, exe: Option<&str>) -> bool {
    let Some(exe) = exe else { return false };
    if who.contains('/') {
        who == exe
    } else {
        exe.rsplit('/').next() == Some(who)
    }
}

/// Strips a `#` comment (a `#` at the start or after white space, so that
/// paths such as `/tmp/a#b` survive).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// A line as `settings` reads it: comment stripped, trimmed.
fn content(raw: &str) -> &str {
    strip_comment(raw).trim()
}

/// What follows the `[` of a section header line, well formed or not.
fn section_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')
}

/// Whether `text` has a section header, well formed or not (only then
/// does the program's path matter to `settings`).
pub fn has_program_sections(text: &str) -> bool {
    text.lines().any(|l| section_header(content(l)).is_some())
}

/// The settings of `text` (read from `path`) that apply to the program
/// `exe`, in order (a later one wins), with one warning per bad line.
pub fn settings(
    path: &str,
    text: &str,
    exe: Option<&str>,
) -> (Vec<(&'static str, String)>, Vec<ConfigWarning>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut section = Section::Applies;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let warn = |msg: String| ConfigWarning(format!("jitguard: {path}:{line_no}: {msg}"));
        let line = content(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = section_header(line) {
            let Some(inner) = rest.strip_suffix(']') else {
                warnings.push(warn(format!(
                    "{line:?} is not a section header ([program PATH-OR-NAME]); its lines are ignored"
                )));
                section = Section::Broken;
                continue;
            };
            let mut words = inner.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("program"), Some(who), None) => {
                    section = if program_matches(who, exe) {
                        Section::Applies
                    } else {
                        Section::Other
                    };
                }
                _ => {
                    warnings.push(warn(format!(
                        "unknown section {line:?} (expected [program PATH-OR-NAME]); its lines are ignored"
                    )));
                    section = Section::Broken;
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            warnings.push(warn(format!(
                "{line:?} is not a `key = value` line; ignored"
            )));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(var) = var_of(key) else {
            let keys: Vec<String> = vars::ALL
                .iter()
                .map(|v| v["JITGUARD_".len()..].to_ascii_lowercase())
                .collect();
            warnings.push(warn(format!(
                "unknown key {key:?} (known: {}); ignored",
                keys.join(", ")
            )));
            continue;
        };
        if section != Section::Applies {
            continue;
        }
        if value.is_empty() {
            warnings.push(warn(format!("{key} has no value; ignored")));
            continue;
        }
        match check_value(var, value) {
            Ok(()) => out.push((var, value.to_string())),
            Err((accepted, _)) => {
                let safe = default_spelling(var).unwrap_or("");
                warnings.push(warn(format!(
                    "{key} = {value:?} is not one of {accepted}; using {safe}"
                )));
                out.push((var, safe.to_string()));
            }
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, Config, LogLevel, Mode, Policy, Report};
    use std::collections::HashMap;

    fn load(text: &str, exe: &str, env: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_file_and_env(Some(("/etc/jitguard.conf", text)), Some(exe), |k| {
            env.get(k).cloned()
        })
    }

    const FILE: &str = "\
# jitguard settings
mode = audit          # defaults for everyone
policy=single
report = syslog
syslog_socket = /run/test.sock

[program /usr/bin/iwasm]
mode = enforce
stats = /var/log/jg/#%p.json

[program node]
backend = mprotect
log = debug
";

    #[test]
    fn global_lines_apply_to_every_program() {
        let (c, w) = load(FILE, "/usr/bin/python3", &[]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.policy, Policy::Single);
        assert_eq!(c.report, Report::Syslog);
        assert_eq!(c.syslog_socket, "/run/test.sock");
        assert_eq!(c.backend, Backend::Auto);
        assert_eq!(c.stats, None);
    }

    #[test]
    fn program_sections_by_path_and_by_name() {
        let (c, w) = load(FILE, "/usr/bin/iwasm", &[]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.policy, Policy::Single, "globals still apply");
        assert_eq!(
            c.stats.as_deref(),
            Some("/var/log/jg/#%p.json"),
            "a # inside a word is not a comment"
        );
        // By path: another iwasm does not match.
        let (c, _) = load(FILE, "/opt/iwasm", &[]);
        assert_eq!(c.mode, Mode::Audit);
        // By name: any node.
        let (c, _) = load(FILE, "/usr/local/bin/node", &[]);
        assert_eq!(c.backend, Backend::Mprotect);
        assert_eq!(c.log, LogLevel::Debug);
        assert_eq!(c.mode, Mode::Audit);
        // No executable known: globals only.
        let (c, _) = Config::from_file_and_env(Some(("f", FILE)), None, |_| None);
        assert_eq!(c.backend, Backend::Auto);
    }

    #[test]
    fn environment_overrides_the_file() {
        let (c, w) = load(
            FILE,
            "/usr/local/bin/node",
            &[("JITGUARD_MODE", "enforce"), ("JITGUARD_BACKEND", " ")],
        );
        assert!(w.is_empty());
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(
            c.backend,
            Backend::Mprotect,
            "an empty variable counts as unset"
        );
    }

    #[test]
    fn bad_lines_warn_with_file_and_line_and_fall_back_safely() {
        let text = "\
mode = audit
mode = audt
colour = blue
just words
policy =
[program iwasm
backend = pkey
[service x]
backend = pkey
[program toy]
report = pager
";
        let (c, w) = load(text, "/bin/toy", &[]);
        assert_eq!(
            c.mode,
            Mode::Enforce,
            "a bad mode is enforce, even after an audit line"
        );
        assert_eq!(c.backend, Backend::Auto, "broken sections are ignored");
        assert_eq!(c.report, Report::Auto);
        assert_eq!(c.policy, Policy::Hashed);
        let lines: Vec<&str> = w.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(lines.len(), 7, "{lines:#?}");
        assert!(lines[0].starts_with("jitguard: /etc/jitguard.conf:2: mode = \"audt\""));
        assert!(
            lines[0].contains("enforce, audit, learn, off") && lines[0].ends_with("using enforce")
        );
        assert!(lines[1].starts_with("jitguard: /etc/jitguard.conf:3: unknown key \"colour\""));
        assert!(lines[1].contains("mode, policy"));
        assert!(lines[2].contains(":4: \"just words\" is not a `key = value` line"));
        assert!(lines[3].contains(":5: policy has no value"));
        assert!(lines[4].contains(":6: ") && lines[4].contains("not a section header"));
        assert!(lines[5].contains(":8: unknown section"));
        assert!(lines[6].contains(":11: report = \"pager\""));
        assert!(lines.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn names_match_whole_file_names() {
        assert!(program_matches("iwasm", Some("/usr/bin/iwasm")));
        assert!(!program_matches("wasm", Some("/usr/bin/iwasm")));
        assert!(program_matches("/usr/bin/iwasm", Some("/usr/bin/iwasm")));
        assert!(!program_matches("/bin/iwasm", Some("/usr/bin/iwasm")));
        assert!(!program_matches("iwasm", None));
    }

    #[test]
    fn missing_file_is_silent_but_a_named_one_is_not() {
        // JITGUARD_CONFIG is not set in the unit-test environment by the
        // project; `load` with the default path that does not exist is silent.
        if std::env::var_os("JITGUARD_CONFIG").is_none()
            && !std::path::Path::new(crate::config::DEFAULT_CONFIG_FILE).exists()
        {
            let (_, w) = Config::load(|| None);
            assert!(w.is_empty(), "{w:?}");
        }
    }
}
