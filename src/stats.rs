//! The stats file: one JSON object written at exit (`JITGUARD_STATS`).

use std::fmt::Write as _;

/// What one process did, as written to the stats file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub pid: u32,
    pub mode: String,
    pub policy: String,
    pub backend: String,
    /// Where the writer policy came from: `none` (writers not
    /// authenticated), `builtin:NAME`, `file:PATH` or `learning`.
    pub writer_profile: String,
    /// Guarded regions created over the run.
    pub regions: u64,
    /// Guarded bytes at exit.
    pub guarded_bytes: u64,
    /// Pages given their code key on first write (pkey) or opened at least
    /// once (mprotect).
    pub pages: u64,
    /// Protection keys jitguard obtained and uses.
    pub keys: u64,
    /// Write faults on guarded pages.
    pub write_faults: u64,
    /// Write windows opened (one per emit).
    pub opens: u64,
    /// Writes refused by the writer policy.
    pub denials: u64,
    /// Writes the writer policy would refuse, allowed in audit mode.
    pub audited: u64,
    /// REP string writes completed in one go by the handler.
    pub rep_emulations: u64,
    /// Bytes written by those REP emulations.
    pub rep_bytes: u64,
    /// Trap-flag steps that resealed a window.
    pub reseals: u64,
    /// Faults from threads whose PKRU was not yet sealed (fixed in place).
    pub seal_fixups: u64,
    /// Signals passed on to the program's own handlers.
    pub chained_signals: u64,
    /// Total nanoseconds spent in jitguard's fault and trap handlers.
    pub handler_ns: u64,
    /// Pages writable by the faulting thread while windows were open, summed
    /// over opens (divide by `opens` for the mean exposure per emit).
    pub exposed_pages_sum: u64,
    /// Keys opened with a new call window by key prediction
    /// (`JITGUARD_PREDICT`; their pages count in `exposed_pages_sum`).
    pub keys_ahead: u64,
    /// Writes from a shared routine whose caller could not be found (never
    /// trusted by a profile, never learned).
    pub unnamed_writers: u64,
    /// Windows that lasted one trusted writer call (the rest of `opens`
    /// lasted one instruction).
    pub call_windows: u64,
    /// Contexts found with jitguard's keys write-enabled outside a window
    /// (a WRPKRU gadget, a forged sigreturn): the PKRU tamper check.
    pub pkru_tampered: u64,
    /// Raw system calls the seccomp filter trapped and jitguard ran.
    pub seccomp_traps: u64,
    /// Trapped calls refused (process_vm_writev into this process).
    pub seccomp_refused: u64,
    /// The window length in force: `call` or `insn`.
    pub window: String,
    /// Code attestation in force (`off`, `open` or the sweep period in ms).
    pub attest: String,
    /// Pages whose content hash was recorded at a reseal.
    pub attested_pages: u64,
    /// Sealed pages checked against their recorded hash.
    pub attest_checks: u64,
    /// Checks that found a sealed page changed (tampered code).
    pub tampered: u64,
    /// PKRU-loading gadgets found in code written through windows.
    pub gadgets: u64,
    /// Nanoseconds spent attesting (every thread, the sweep's included)
    /// and, of those or alone, scanning for gadgets.
    pub attest_ns: u64,
    pub gadget_ns: u64,
    /// WRPKRU and XRSTOR/XRSTORS memory forms in the modules loaded at
    /// start-up, and where (`module+offset KIND`, `; `-separated).
    pub startup_wrpkru: u64,
    pub startup_xrstor: u64,
    pub startup_gadgets: String,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether a process writes its stats file at exit: always with `%p` in
/// the path (one file per process), else only when it guarded at least
/// one region, so that a wrapper that inherited `JITGUARD_STATS` and
/// guarded nothing cannot replace the guarded program's file.
pub fn should_write(path: &str, regions: u64) -> bool {
    regions > 0 || crate::config::expand_pid(path, 0) != crate::config::expand_pid(path, 1)
}

impl Stats {
    /// The JSON object, one line, integer fields as integers.
    pub fn to_json(&self) -> String {
        let strings = [
            ("mode", &self.mode),
            ("policy", &self.policy),
            ("backend", &self.backend),
            ("writer_profile", &self.writer_profile),
            ("window", &self.window),
            ("attest", &self.attest),
            ("startup_gadgets", &self.startup_gadgets),
        ];
        let ints = [
            ("pid", self.pid as u64),
            ("regions", self.regions),
            ("guarded_bytes", self.guarded_bytes),
            ("pages", self.pages),
            ("keys", self.keys),
            ("write_faults", self.write_faults),
            ("opens", self.opens),
            ("denials", self.denials),
            ("audited", self.audited),
            ("rep_emulations", self.rep_emulations),
            ("rep_bytes", self.rep_bytes),
            ("reseals", self.reseals),
            ("seal_fixups", self.seal_fixups),
            ("chained_signals", self.chained_signals),
            ("handler_ns", self.handler_ns),
            ("exposed_pages_sum", self.exposed_pages_sum),
            ("keys_ahead", self.keys_ahead),
            ("unnamed_writers", self.unnamed_writers),
            ("call_windows", self.call_windows),
            ("pkru_tampered", self.pkru_tampered),
            ("seccomp_traps", self.seccomp_traps),
            ("seccomp_refused", self.seccomp_refused),
            ("attested_pages", self.attested_pages),
            ("attest_checks", self.attest_checks),
            ("tampered", self.tampered),
            ("gadgets", self.gadgets),
            ("attest_ns", self.attest_ns),
            ("gadget_ns", self.gadget_ns),
            ("startup_wrpkru", self.startup_wrpkru),
            ("startup_xrstor", self.startup_xrstor),
        ];
        let mut out = String::from("{");
        let mut first = true;
        for (k, v) in strings {
            let _ = write!(
                out,
                "{}\"{k}\":\"{}\"",
                if first { "" } else { "," },
                escape(v)
            );
            first = false;
        }
        for (k, v) in ints {
            let _ = write!(out, ",\"{k}\":{v}");
        }
        out.push_str("}\n");
        out
    }

    /// Reads a stats file's text back (fields missing from it stay zero).
    pub fn from_json(json: &str) -> Option<Stats> {
        let int = |k| Self::field(json, k).unwrap_or(0);
        Some(Stats {
            pid: Self::field(json, "pid")? as u32,
            mode: Self::text_field(json, "mode").unwrap_or_default(),
            policy: Self::text_field(json, "policy").unwrap_or_default(),
            backend: Self::text_field(json, "backend").unwrap_or_default(),
            writer_profile: Self::text_field(json, "writer_profile").unwrap_or_default(),
            regions: int("regions"),
            guarded_bytes: int("guarded_bytes"),
            pages: int("pages"),
            keys: int("keys"),
            write_faults: int("write_faults"),
            opens: int("opens"),
            denials: int("denials"),
            audited: int("audited"),
            rep_emulations: int("rep_emulations"),
            rep_bytes: int("rep_bytes"),
            reseals: int("reseals"),
            seal_fixups: int("seal_fixups"),
            chained_signals: int("chained_signals"),
            handler_ns: int("handler_ns"),
            exposed_pages_sum: int("exposed_pages_sum"),
            keys_ahead: int("keys_ahead"),
            unnamed_writers: int("unnamed_writers"),
            call_windows: int("call_windows"),
            pkru_tampered: int("pkru_tampered"),
            seccomp_traps: int("seccomp_traps"),
            seccomp_refused: int("seccomp_refused"),
            window: Self::text_field(json, "window").unwrap_or_default(),
            attest: Self::text_field(json, "attest").unwrap_or_default(),
            attested_pages: int("attested_pages"),
            attest_checks: int("attest_checks"),
            tampered: int("tampered"),
            gadgets: int("gadgets"),
            attest_ns: int("attest_ns"),
            gadget_ns: int("gadget_ns"),
            startup_wrpkru: int("startup_wrpkru"),
            startup_xrstor: int("startup_xrstor"),
            startup_gadgets: Self::text_field(json, "startup_gadgets").unwrap_or_default(),
        })
    }

    /// A short human summary, one fact a line.
    pub fn summary(&self) -> String {
        let mean_us = if self.write_faults > 0 {
            self.handler_ns as f64 / self.write_faults as f64 / 1000.0
        } else {
            0.0
        };
        let keys = if self.backend == "pkey" {
            format!("{} keys, {} policy", self.keys, self.policy)
        } else {
            "page-table permissions".to_string()
        };
        format!(
            "process {pid}: {backend} backend ({keys}), mode {mode}\n\
             writer profile: {profile}; windows: {window} ({calls} lasted one writer call)\n\
             guarded regions created: {regions}; {pages_label}: {pages}\n\
             write faults: {wf}; write windows opened: {opens}; denied: {den}; audited: {aud}\n\
             REP string writes completed in one go: {rep} ({rep_mb:.1} MiB)\n\
             program signals passed on: {chained}\n\
             attestation: {attest}; pages attested: {ap}; checks: {ac}; tampered: {tam}; gadgets written: {gad}\n\
             time in jitguard's handlers: {hms:.1} ms ({mean_us:.1} us per write fault)\n",
            pid = self.pid,
            profile = if self.writer_profile.is_empty() || self.writer_profile == "none" {
                "none (writers not authenticated)"
            } else {
                &self.writer_profile
            },
            window = if self.window.is_empty() {
                "insn"
            } else {
                &self.window
            },
            calls = self.call_windows,
            backend = self.backend,
            mode = self.mode,
            regions = self.regions,
            pages_label = if self.backend == "pkey" {
                "code pages given their own key"
            } else {
                "page openings"
            },
            pages = self.pages,
            wf = self.write_faults,
            opens = self.opens,
            den = self.denials,
            aud = self.audited,
            rep = self.rep_emulations,
            rep_mb = self.rep_bytes as f64 / 1048576.0,
            chained = self.chained_signals,
            attest = if self.attest.is_empty() { "off" } else { &self.attest },
            ap = self.attested_pages,
            ac = self.attest_checks,
            tam = self.tampered,
            gad = self.gadgets,
            hms = self.handler_ns as f64 / 1e6,
        ) + &self.detector_lines()
    }

    /// Lines for the tamper check and the seccomp filter, when they saw
    /// anything.
    fn detector_lines(&self) -> String {
        let mut out = String::new();
        if self.pkru_tampered > 0 {
            out += &format!(
                "PKRU found tampered: {} time(s) (a WRPKRU gadget or a forged signal frame)\n",
                self.pkru_tampered
            );
        }
        if self.seccomp_traps > 0 || self.seccomp_refused > 0 {
            out += &format!(
                "raw system calls trapped by the seccomp filter: {} ({} refused)\n",
                self.seccomp_traps, self.seccomp_refused
            );
        }
        if self.keys_ahead > 0 {
            out += &format!(
                "key prediction: {} keys opened ahead ({:.2} per call window)\n",
                self.keys_ahead,
                self.keys_ahead as f64 / self.call_windows.max(1) as f64
            );
        }
        out
    }

    /// Reads back one integer field from a stats file's text (for tests and
    /// the CLI; not a general JSON parser).
    pub fn field(json: &str, name: &str) -> Option<u64> {
        let key = format!("\"{name}\":");
        let at = json.find(&key)? + key.len();
        let digits: String = json[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }

    /// Reads back one string field.
    pub fn text_field(json: &str, name: &str) -> Option<String> {
        let key = format!("\"{name}\":\"");
        let at = json.find(&key)? + key.len();
        Some(json[at..].chars().take_while(|&c| c != '"').collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_required_integer_fields() {
        let s = Stats {
            pid: 9,
            mode: "enforce".into(),
            policy: "hashed".into(),
            backend: "pkey".into(),
            regions: 1,
            pages: 40,
            keys: 15,
            write_faults: 1234,
            opens: 1200,
            denials: 0,
            ..Default::default()
        };
        let j = s.to_json();
        assert!(j.starts_with('{') && j.trim_end().ends_with('}'));
        for (k, v) in [
            ("regions", 1),
            ("pages", 40),
            ("keys", 15),
            ("write_faults", 1234),
            ("opens", 1200),
            ("denials", 0),
        ] {
            assert_eq!(Stats::field(&j, k), Some(v), "{k} in {j}");
        }
        assert_eq!(Stats::text_field(&j, "backend").as_deref(), Some("pkey"));
    }

    #[test]
    fn json_roundtrip_and_summary() {
        let s = Stats {
            pid: 4,
            backend: "mprotect".into(),
            mode: "enforce".into(),
            policy: "hashed".into(),
            write_faults: 10,
            handler_ns: 50_000,
            ..Default::default()
        };
        let back = Stats::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        let text = back.summary();
        assert!(text.contains("write faults: 10"), "{text}");
        assert!(text.contains("5.0 us per write fault"), "{text}");
        assert!(Stats::from_json("{}").is_none());
        assert!(!text.contains("PKRU found tampered"), "{text}");
        let t = Stats {
            pkru_tampered: 2,
            seccomp_traps: 5,
            seccomp_refused: 1,
            keys_ahead: 30,
            call_windows: 20,
            ..s.clone()
        };
        let back = Stats::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        let text = back.summary();
        assert!(text.contains("PKRU found tampered: 2 time(s)"), "{text}");
        assert!(
            text.contains("trapped by the seccomp filter: 5 (1 refused)"),
            "{text}"
        );
        assert!(
            text.contains("key prediction: 30 keys opened ahead (1.50 per call window)"),
            "{text}"
        );
        assert!(!s.summary().contains("key prediction"));
    }

    #[test]
    fn strings_are_escaped() {
        let s = Stats {
            mode: "a\"b\\c\n".into(),
            ..Default::default()
        };
        assert!(s.to_json().contains(r#""mode":"a\"b\\c\u000a""#));
    }

    #[test]
    fn only_guarding_processes_write_a_shared_path() {
        assert!(super::should_write("/tmp/s.json", 1));
        assert!(!super::should_write("/tmp/s.json", 0));
        assert!(super::should_write("/tmp/s.%p.json", 0));
        assert!(
            !super::should_write("/tmp/s.%%p.json", 0),
            "%% is a literal %"
        );
    }
}
