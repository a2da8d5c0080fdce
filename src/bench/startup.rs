//! The start-up kind of `jitguard bench`: short programs with little or no
//! JIT (`/bin/true`, `python3 -c pass`, `gcc -c`, `node -e 0`,
//! `java -version`, `erl -noshell -eval halt().`), run stock and under the library in adjacent pairs.
//! What a user feels is the fixed cost per process, so the report gives the
//! ratio of the medians, the spread of the per-pair ratios and the extra
//! milliseconds. Pure: the runner measures, this adds up.

use super::{median, Cell};
use std::fmt::Write as _;

/// One start-up program: a short name (what `--workloads` selects) and the
/// command line, whose first word is looked up in PATH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupProgram {
    pub name: String,
    pub argv: Vec<String>,
}

/// The standard start-up programs; `c_file` is the small C file `gcc -c`
/// compiles (the runner writes it into a temporary directory).
pub fn startup_programs(c_file: &str) -> Vec<StartupProgram> {
    let p = |name: &str, argv: &[&str]| StartupProgram {
        name: name.to_string(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        p("true", &["/bin/true"]),
        p("python3", &["python3", "-c", "pass"]),
        p("gcc", &["gcc", "-c", c_file, "-o", "/dev/null"]),
        p("node", &["node", "-e", "0"]),
        p("java", &["java", "-version"]),
        // BEAM's boot JIT-compiles ~100 modules into its dual-mapped code
        // memory (the RW view guarded as a writable alias of code).
        p("erl", &["erl", "-noshell", "-eval", "halt()."]),
    ]
}

/// The small C file compiled by the `gcc` start-up program.
pub const SMALL_C: &str = "\
#include <stdio.h>
static int square(int x) { return x * x; }
int main(void) {
    int s = 0;
    for (int i = 0; i < 10; i++)
        s += square(i);
    printf(\"%d\\n\", s);
    return 0;
}
";

/// The `q`-quantile (0..=1) of `xs` by linear interpolation between the
/// closest ranks (q = 0.5 is the median).
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The summary of one program's pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct StartupCell {
    pub program: String,
    /// The guarded configuration (`defaults`: no JITGUARD_* variable).
    pub config: String,
    /// The command line as run (resolved program path first).
    pub command: String,
    pub pairs: usize,
    pub stock_ms: f64,
    pub guarded_ms: f64,
    /// guarded_ms / stock_ms (ratio of the medians).
    pub ratio: f64,
    /// Quantiles of the per-pair ratios guarded / stock.
    pub pair_min: f64,
    pub pair_q1: f64,
    pub pair_median: f64,
    pub pair_q3: f64,
    pub pair_max: f64,
    /// guarded_ms - stock_ms.
    pub extra_ms: f64,
    /// Median of the per-pair differences guarded - stock.
    pub pair_extra_ms: f64,
    /// Write faults of one guarded run (summed over its processes).
    pub write_faults: u64,
}

/// Summarises pairs of wall times in seconds, `(stock, guarded)`, taken
/// back to back.
pub fn summarise_pairs(
    program: &str,
    config: &str,
    command: &str,
    pairs: &[(f64, f64)],
    write_faults: u64,
) -> StartupCell {
    let stock: Vec<f64> = pairs.iter().map(|p| p.0 * 1e3).collect();
    let guarded: Vec<f64> = pairs.iter().map(|p| p.1 * 1e3).collect();
    let ratios: Vec<f64> = pairs.iter().map(|p| p.1 / p.0).collect();
    let diffs: Vec<f64> = pairs.iter().map(|p| (p.1 - p.0) * 1e3).collect();
    let (s, g) = (median(&stock), median(&guarded));
    StartupCell {
        program: program.to_string(),
        config: config.to_string(),
        command: command.to_string(),
        pairs: pairs.len(),
        stock_ms: s,
        guarded_ms: g,
        ratio: g / s,
        pair_min: quantile(&ratios, 0.0),
        pair_q1: quantile(&ratios, 0.25),
        pair_median: quantile(&ratios, 0.5),
        pair_q3: quantile(&ratios, 0.75),
        pair_max: quantile(&ratios, 1.0),
        extra_ms: g - s,
        pair_extra_ms: median(&diffs),
        write_faults,
    }
}

pub const STARTUP_CSV_HEADER: &str = "program,config,command,pairs,stock_ms,guarded_ms,ratio,pair_ratio_min,pair_ratio_q1,pair_ratio_median,pair_ratio_q3,pair_ratio_max,extra_ms,pair_extra_ms,write_faults";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn startup_csv(cells: &[StartupCell]) -> String {
    let mut out = format!("{STARTUP_CSV_HEADER}\n");
    for c in cells {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.3},{:.3},{}",
            c.program,
            c.config,
            csv_field(&c.command),
            c.pairs,
            c.stock_ms,
            c.guarded_ms,
            c.ratio,
            c.pair_min,
            c.pair_q1,
            c.pair_median,
            c.pair_q3,
            c.pair_max,
            c.extra_ms,
            c.pair_extra_ms,
            c.write_faults
        );
    }
    out
}

pub fn startup_json(cells: &[StartupCell], meta: &[(&str, String)]) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("{\n");
    for (k, v) in meta {
        let _ = writeln!(out, "  \"{k}\": \"{}\",", esc(v));
    }
    out.push_str("  \"startup\": [\n");
    for (i, c) in cells.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"program\":\"{}\",\"config\":\"{}\",\"command\":\"{}\",\"pairs\":{},\"stock_ms\":{:.3},\"guarded_ms\":{:.3},\"ratio\":{:.4},\"pair_ratio_min\":{:.4},\"pair_ratio_q1\":{:.4},\"pair_ratio_median\":{:.4},\"pair_ratio_q3\":{:.4},\"pair_ratio_max\":{:.4},\"extra_ms\":{:.3},\"pair_extra_ms\":{:.3},\"write_faults\":{}}}",
            esc(&c.program), esc(&c.config), esc(&c.command), c.pairs, c.stock_ms, c.guarded_ms, c.ratio, c.pair_min, c.pair_q1, c.pair_median, c.pair_q3, c.pair_max, c.extra_ms, c.pair_extra_ms, c.write_faults
        );
        out.push_str(if i + 1 < cells.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// The Markdown table: one row per program.
pub fn startup_markdown(cells: &[StartupCell]) -> String {
    let mut out = String::from(
        "| program | config | pairs | stock ms | guarded ms | × stock (medians) | per-pair ratio IQR | per-pair min–max | extra ms | write faults |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.2} | {:.2} | {:.3} | {:.3}–{:.3} | {:.3}–{:.3} | {:+.2} | {} |",
            c.command,
            c.config,
            c.pairs,
            c.stock_ms,
            c.guarded_ms,
            c.ratio,
            c.pair_q1,
            c.pair_q3,
            c.pair_min,
            c.pair_max,
            c.extra_ms,
            c.write_faults
        );
    }
    out
}

/// The cells `to_svg` draws: stock at 1.0 and each guarded
/// configuration's ratio, per program.
pub fn startup_chart_cells(cells: &[StartupCell]) -> Vec<Cell> {
    let mk = |c: &StartupCell, config: &str, ms: f64, ratio: f64| Cell {
        workload: c.program.clone(),
        config: config.to_string(),
        runs: c.pairs,
        median_s: ms / 1e3,
        min_s: ms / 1e3,
        max_s: ms / 1e3,
        ratio,
        write_faults: 0,
        opens: 0,
        handler_ms: 0.0,
        exposure_pages: 0.0,
        pages: 0,
    };
    cells
        .iter()
        .flat_map(|c| {
            [
                mk(c, "stock", c.stock_ms, 1.0),
                mk(c, &c.config, c.guarded_ms, c.ratio),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert!((quantile(&[1.0, 2.0], 0.25) - 1.25).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn pairs_give_ratio_of_medians_and_pair_spread() {
        // Stock 1, 2, 3 ms; guarded 1.5, 2, 6 ms.
        let pairs = [(0.001, 0.0015), (0.002, 0.002), (0.003, 0.006)];
        let c = summarise_pairs("true", "defaults", "/bin/true", &pairs, 0);
        assert_eq!(c.pairs, 3);
        assert!((c.stock_ms - 2.0).abs() < 1e-9);
        assert!((c.guarded_ms - 2.0).abs() < 1e-9);
        assert!((c.ratio - 1.0).abs() < 1e-9);
        assert!((c.pair_min - 1.0).abs() < 1e-9);
        assert!((c.pair_median - 1.5).abs() < 1e-9);
        assert!((c.pair_max - 2.0).abs() < 1e-9);
        assert!((c.pair_q1 - 1.25).abs() < 1e-9);
        assert!(c.extra_ms.abs() < 1e-9);
        assert!((c.pair_extra_ms - 0.5).abs() < 1e-9);
    }

    #[test]
    fn startup_outputs_are_well_formed() {
        let cells = vec![
            summarise_pairs("true", "defaults", "/bin/true", &[(0.001, 0.002)], 0),
            summarise_pairs("gcc", "mprotect", "gcc -c a,b.c", &[(0.01, 0.011)], 3),
        ];
        let csv = startup_csv(&cells);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.contains("\"gcc -c a,b.c\""));
        assert!(csv.contains("true,defaults,/bin/true,1,1.000,2.000,2.0000"));
        let md = startup_markdown(&cells);
        assert!(md.contains("| `/bin/true` | defaults | 1 | 1.00 | 2.00 | 2.000 |"));
        assert!(md.contains("+1.00 |"));
        let json = startup_json(&cells, &[("cpu", "x \"y\"".into())]);
        assert!(json.contains("\"cpu\": \"x \\\"y\\\"\""));
        assert!(json.contains("\"ratio\":1.1000"));
        let chart = startup_chart_cells(&cells);
        assert_eq!(chart.len(), 4);
        assert_eq!(chart[1].config, "defaults");
        assert_eq!(chart[3].config, "mprotect");
        assert!((chart[1].ratio - 2.0).abs() < 1e-9);
    }

    #[test]
    fn programs_cover_the_issue_list() {
        let p = startup_programs("/tmp/x/small.c");
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["true", "python3", "gcc", "node", "java", "erl"]);
        assert_eq!(p[2].argv[..3], ["gcc", "-c", "/tmp/x/small.c"]);
    }
}
