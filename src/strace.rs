//! System calls per write fault: parsing the summary table of
//! `strace -f -c -o FILE` and relating a guarded run's counts, less a stock
//! run's, to the write faults and windows of jitguard's stats file. Pure:
//! `jitguard bench --syscalls` runs the programs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Calls and failed calls of one system call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub calls: u64,
    pub errors: u64,
}

/// Parses strace's `-c` summary: a header, dashed rules, one line per
/// system call (`% time  seconds  usecs/call  calls  [errors]  syscall`,
/// the errors column blank when none failed) and a `total` line, which is
/// left out. Lines that are not of that shape (strace's own notes, such as
/// `strace: Process N detached`) are skipped.
pub fn parse_summary(text: &str) -> BTreeMap<String, Count> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 5 || t.len() > 6 {
            continue;
        }
        let name = t[t.len() - 1];
        let nums = &t[..t.len() - 1];
        if name == "total" || nums.iter().any(|n| n.parse::<f64>().is_err()) {
            continue;
        }
        let (Ok(calls), errors) = (nums[3].parse::<u64>(), nums.get(4)) else {
            continue;
        };
        let errors = errors.and_then(|e| e.parse().ok()).unwrap_or(0);
        let c: &mut Count = out.entry(name.to_string()).or_default();
        c.calls += calls;
        c.errors += errors;
    }
    out
}

/// The system calls jitguard's fault path may make, reported one by one.
pub const FAULT_PATH_CALLS: [&str; 7] = [
    "mprotect",
    "pkey_mprotect",
    "getpid",
    "gettid",
    "process_vm_readv",
    "rt_sigprocmask",
    "rt_sigreturn",
];

/// One workload's system calls under one configuration, related to its
/// faults.
#[derive(Clone, Debug, PartialEq)]
pub struct SyscallRow {
    pub workload: String,
    pub config: String,
    pub write_faults: u64,
    pub opens: u64,
    pub call_windows: u64,
    /// Guarded minus stock calls of each of `FAULT_PATH_CALLS`.
    pub extra: Vec<(String, i64)>,
    /// Guarded minus stock calls of every system call, summed.
    pub extra_total: i64,
    /// All calls of the guarded run.
    pub guarded_total: u64,
}

fn total(m: &BTreeMap<String, Count>) -> u64 {
    m.values().map(|c| c.calls).sum()
}

/// Relates a guarded run's counts to the stock run's and to the faults.
pub fn compare(
    workload: &str,
    config: &str,
    stock: &BTreeMap<String, Count>,
    guarded: &BTreeMap<String, Count>,
    write_faults: u64,
    opens: u64,
    call_windows: u64,
) -> SyscallRow {
    let calls = |m: &BTreeMap<String, Count>, k: &str| m.get(k).map_or(0, |c| c.calls) as i64;
    SyscallRow {
        workload: workload.to_string(),
        config: config.to_string(),
        write_faults,
        opens,
        call_windows,
        extra: FAULT_PATH_CALLS
            .iter()
            .map(|k| (k.to_string(), calls(guarded, k) - calls(stock, k)))
            .collect(),
        extra_total: total(guarded) as i64 - total(stock) as i64,
        guarded_total: total(guarded),
    }
}

impl SyscallRow {
    /// Extra calls per write fault (NaN with no faults).
    pub fn per_fault(&self, extra: i64) -> f64 {
        if self.write_faults == 0 {
            f64::NAN
        } else {
            extra as f64 / self.write_faults as f64
        }
    }

    /// Write faults per window opened.
    pub fn faults_per_open(&self) -> f64 {
        ratio(self.write_faults, self.opens)
    }

    /// Write faults per window that lasted one trusted writer call.
    pub fn faults_per_call_window(&self) -> f64 {
        ratio(self.write_faults, self.call_windows)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".to_string()
    }
}

/// The Markdown table: per workload and configuration, extra calls (over
/// stock) per write fault, and faults per window; the last column is the
/// extra calls of the whole run (what a process with no fault pays).
pub fn to_markdown(rows: &[SyscallRow]) -> String {
    let mut out = String::from("| workload | config | write faults | opens | call windows | faults/open | faults/call window |");
    for k in FAULT_PATH_CALLS {
        let _ = write!(out, " {k} |");
    }
    out.push_str(
        " all extra calls | all extra calls, whole run |\n|---|---|---:|---:|---:|---:|---:|",
    );
    for _ in FAULT_PATH_CALLS {
        out.push_str("---:|");
    }
    out.push_str("---:|---:|\n");
    for r in rows {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.config,
            r.write_faults,
            r.opens,
            r.call_windows,
            num(r.faults_per_open(), 2),
            num(r.faults_per_call_window(), 2)
        );
        for (_, n) in &r.extra {
            let _ = write!(out, " {} |", num(r.per_fault(*n), 2));
        }
        let _ = writeln!(
            out,
            " {} | {:+} |",
            num(r.per_fault(r.extra_total), 2),
            r.extra_total
        );
    }
    out
}

/// CSV with raw counts (extra over stock) and the per-fault figures.
pub fn to_csv(rows: &[SyscallRow]) -> String {
    let mut out =
        String::from("workload,config,write_faults,opens,call_windows,guarded_total_calls");
    for k in FAULT_PATH_CALLS {
        let _ = write!(out, ",{k}_extra,{k}_per_fault");
    }
    out.push_str(",all_extra,all_extra_per_fault\n");
    for r in rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            r.workload, r.config, r.write_faults, r.opens, r.call_windows, r.guarded_total
        );
        for (_, n) in &r.extra {
            let _ = write!(out, ",{n},{}", num(r.per_fault(*n), 4));
        }
        let _ = writeln!(
            out,
            ",{},{}",
            r.extra_total,
            num(r.per_fault(r.extra_total), 4)
        );
    }
    out.replace('–', "")
}

pub fn to_json(rows: &[SyscallRow], meta: &[(&str, String)]) -> String {
    let mut out = String::from("{\n");
    for (k, v) in meta {
        let _ = writeln!(out, "  \"{k}\": \"{}\",", v.replace('"', "'"));
    }
    out.push_str("  \"syscalls\": [\n");
    let js = |x: f64| {
        if x.is_finite() {
            format!("{x:.4}")
        } else {
            "null".to_string()
        }
    };
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"workload\":\"{}\",\"config\":\"{}\",\"write_faults\":{},\"opens\":{},\"call_windows\":{},\"guarded_total_calls\":{},\"extra\":{{",
            r.workload, r.config, r.write_faults, r.opens, r.call_windows, r.guarded_total
        );
        for (j, (k, n)) in r.extra.iter().enumerate() {
            let _ = write!(out, "{}\"{k}\":{n}", if j > 0 { "," } else { "" });
        }
        let _ = write!(
            out,
            "}},\"all_extra\":{},\"all_extra_per_fault\":{},\"faults_per_open\":{},\"faults_per_call_window\":{}}}",
            r.extra_total,
            js(r.per_fault(r.extra_total)),
            js(r.faults_per_open()),
            js(r.faults_per_call_window())
        );
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `strace -f -c -o FILE node -e 0` under libjitguard.so
    /// (strace 6.1; lines cut from the middle), with a detach note.
    const SAMPLE: &str = "\
strace: Process 4242 detached
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 64.77    0.099237        1653        60         5 futex
 16.25    0.024904        6226         4           epoll_pwait
  1.69    0.002596        2596         1           execve
  0.24    0.000375           7        49           mprotect
  0.20    0.000299           9        30         1 openat
  0.09    0.000141           2        54           getpid
  0.07    0.000112           4        28           rt_sigprocmask
  0.05    0.000079           2        28           process_vm_readv
  0.03    0.000046           2        16         1 pkey_alloc
  0.02    0.000036           2        16           rt_sigreturn
  0.02    0.000030           1        19           gettid
  0.02    0.000026           5         5           pkey_mprotect
  0.00    0.000000           0         1           chdir
------ ----------- ----------- --------- --------- ------------------
100.00    0.153216         168       311         7 total
";

    #[test]
    fn parses_the_captured_summary() {
        let m = parse_summary(SAMPLE);
        assert_eq!(m.len(), 13);
        assert_eq!(
            m["futex"],
            Count {
                calls: 60,
                errors: 5
            }
        );
        assert_eq!(
            m["epoll_pwait"],
            Count {
                calls: 4,
                errors: 0
            }
        );
        assert_eq!(m["pkey_mprotect"].calls, 5);
        assert_eq!(m["chdir"].calls, 1);
        assert!(!m.contains_key("total"));
        assert_eq!(total(&m), 311, "the lines add up to strace's total");
        assert!(parse_summary("garbage\n\n").is_empty());
    }

    #[test]
    fn extra_calls_per_fault_subtract_stock() {
        let guarded = parse_summary(SAMPLE);
        let stock = parse_summary(
            "% time     seconds  usecs/call     calls    errors syscall\n\
             ------ ----------- ----------- --------- --------- ----------------\n\
             \x20 50.00    0.000100           2        9           mprotect\n\
             \x20 50.00    0.000100           2        2           getpid\n\
             ------ ----------- ----------- --------- --------- ----------------\n\
             100.00    0.000200           2        11           total\n",
        );
        let r = compare("node", "hashed", &stock, &guarded, 20, 10, 5);
        assert_eq!(r.extra[0], ("mprotect".to_string(), 40));
        assert_eq!(r.extra[2], ("getpid".to_string(), 52));
        assert!((r.per_fault(r.extra[0].1) - 2.0).abs() < 1e-12);
        assert_eq!(r.extra_total, 300);
        assert!((r.faults_per_open() - 2.0).abs() < 1e-12);
        assert!((r.faults_per_call_window() - 4.0).abs() < 1e-12);
        let md = to_markdown(std::slice::from_ref(&r));
        assert!(md.contains("| node | hashed | 20 | 10 | 5 | 2.00 | 4.00 | 2.00 |"));
        assert!(md.trim_end().ends_with("| 15.00 | +300 |"));
        let none = compare("true", "hashed", &stock, &stock, 0, 0, 0);
        assert!(to_markdown(std::slice::from_ref(&none)).contains("| – |"));
        let csv = to_csv(&[r.clone(), none]);
        let widths: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{csv}");
        let json = to_json(&[r], &[]);
        assert!(json.contains("\"mprotect\":40") && json.contains("\"faults_per_open\":2.0000"));
    }
}
