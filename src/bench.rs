//! Benchmark arithmetic and output formats: medians and spreads, ratios to
//! stock, CSV/JSON, a Markdown table and an SVG chart (time relative to
//! stock per workload and configuration, like the paper's Fig. 3).
//! Running the programs is the CLI's job; everything here is pure.

use std::fmt::Write as _;

pub mod seccomp;
pub mod startup;

/// One line of workloads/manifest.tsv.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub name: String,
    /// kernel, big, compile or negative (micro: a native program, see
    /// `memcpy_micro`).
    pub kind: String,
    pub args: Vec<String>,
    pub expected_exit: i32,
    pub description: String,
    /// Text the module's stderr must contain (negative workloads).
    pub expected_stderr: String,
    /// Extra iwasm options placed before the module (e.g. --stack-size=N).
    pub iwasm_opts: Vec<String>,
}

impl WorkloadSpec {
    /// The iwasm command line (after the program name) for Fast JIT.
    pub fn iwasm_args(&self, module: &str) -> Vec<String> {
        let mut a = vec!["--fast-jit".to_string()];
        a.extend(self.iwasm_opts.iter().cloned());
        a.push(module.to_string());
        a.extend(self.args.iter().cloned());
        a
    }
}

/// Parses the manifest: tab-separated name, kind, args, expected exit,
/// description, expected stderr, iwasm options; `-` is an empty field (the
/// shell scripts need one: `read` merges adjacent tabs); `#` comments and
/// the `name` header line are skipped.
pub fn parse_manifest(text: &str) -> Vec<WorkloadSpec> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("name\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let get = |i: usize| {
                f.get(i)
                    .map(|s| s.trim())
                    .filter(|s| *s != "-")
                    .unwrap_or("")
            };
            WorkloadSpec {
                name: get(0).to_string(),
                kind: get(1).to_string(),
                args: get(2).split_whitespace().map(String::from).collect(),
                expected_exit: get(3).parse().unwrap_or(0),
                description: get(4).to_string(),
                expected_stderr: get(5).to_string(),
                iwasm_opts: get(6).split_whitespace().map(String::from).collect(),
            }
        })
        .collect()
}

/// One configuration compared in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchConfig {
    /// Short name: stock, hashed, single, mprotect.
    pub name: String,
    /// Environment for libjitguard.so; `None` runs without it.
    pub env: Option<Vec<(String, String)>>,
}

impl BenchConfig {
    /// This jitguard configuration named `name`, with `extra` set after
    /// its own variables (so they win); None for stock.
    pub fn variant<'a>(
        &self,
        name: String,
        extra: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<BenchConfig> {
        let mut env = self.env.clone()?;
        env.extend(
            extra
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Some(BenchConfig {
            name,
            env: Some(env),
        })
    }
}

/// The standard comparison: stock WAMR, the paper's hashed policy, V8's
/// single key, and the page-table method.
pub fn standard_configs(has_pku: bool) -> (Vec<BenchConfig>, Vec<String>) {
    let mk = |name: &str, env: &[(&str, &str)]| BenchConfig {
        name: name.to_string(),
        env: Some(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    };
    let mut configs = vec![BenchConfig {
        name: "stock".into(),
        env: None,
    }];
    let mut skipped = Vec::new();
    if has_pku {
        configs.push(mk(
            "hashed",
            &[("JITGUARD_BACKEND", "pkey"), ("JITGUARD_POLICY", "hashed")],
        ));
        configs.push(mk(
            "single",
            &[("JITGUARD_BACKEND", "pkey"), ("JITGUARD_POLICY", "single")],
        ));
    } else {
        skipped.push("hashed (pkey backend: this CPU has no protection keys)".to_string());
        skipped.push("single (pkey backend: this CPU has no protection keys)".to_string());
    }
    configs.push(mk("mprotect", &[("JITGUARD_BACKEND", "mprotect")]));
    (configs, skipped)
}

/// The native memcpy micro-benchmark (workloads/micro/memcpy_bench.c),
/// which the runner compiles and runs without iwasm.
pub fn memcpy_micro() -> WorkloadSpec {
    WorkloadSpec {
        name: "memcpy_bench".into(),
        kind: "micro".into(),
        description: "libc memcpy throughput on ordinary memory (native)".into(),
        ..WorkloadSpec::default()
    }
}

/// The detector variants of one guarded configuration (`--detectors`):
/// suffix and the settings it adds. `NAME-bare` has every detector off,
/// the others one each; plain `NAME` keeps the defaults.
pub const DETECTORS: [(&str, &[(&str, &str)]); 4] = [
    (
        "bare",
        &[("JITGUARD_ATTEST", "off"), ("JITGUARD_GADGETS", "off")],
    ),
    (
        "attest",
        &[("JITGUARD_ATTEST", "open"), ("JITGUARD_GADGETS", "off")],
    ),
    (
        "sweep100",
        &[("JITGUARD_ATTEST", "100"), ("JITGUARD_GADGETS", "off")],
    ),
    (
        "gadgets",
        &[("JITGUARD_ATTEST", "off"), ("JITGUARD_GADGETS", "report")],
    ),
];

/// Each guarded configuration, then its detector variants (stock stays
/// one), so each detector's cost reads as a ratio beside `NAME-bare`.
pub fn with_detectors(configs: Vec<BenchConfig>) -> Vec<BenchConfig> {
    let mut out = Vec::new();
    for c in configs {
        let variants: Vec<BenchConfig> = DETECTORS
            .iter()
            .filter_map(|(suffix, extra)| {
                c.variant(format!("{}-{suffix}", c.name), extra.iter().copied())
            })
            .collect();
        out.push(c);
        out.extend(variants);
    }
    out
}

/// Each jitguard configuration once per window length: `NAME` with call
/// windows, `NAME-insn` with one-instruction windows (stock stays one).
pub fn with_windows(configs: Vec<BenchConfig>, windows: &[String]) -> Vec<BenchConfig> {
    let mut out = Vec::new();
    for c in configs {
        if c.env.is_none() {
            out.push(c);
            continue;
        }
        for w in windows {
            let name = if w == "call" {
                c.name.clone()
            } else {
                format!("{}-{w}", c.name)
            };
            out.extend(c.variant(name, [("JITGUARD_WINDOW", w.as_str())]));
        }
    }
    out
}

/// Beside every jitguard configuration `NAME`, `NAME-before`: the same
/// settings with another build of the library (`--before PATH`), so that
/// a change is measured against its baseline in the same run, each beside
/// the same stock runs. (The runners set LD_PRELOAD to `--lib` first and
/// the configuration's variables after, so this one wins.)
pub fn with_before(configs: Vec<BenchConfig>, before: Option<&str>) -> Vec<BenchConfig> {
    let Some(lib) = before else {
        return configs;
    };
    let mut out = Vec::new();
    for c in configs {
        let before = c.variant(format!("{}-before", c.name), [("LD_PRELOAD", lib)]);
        out.push(c);
        out.extend(before);
    }
    out
}

/// Beside every hashed (pkey) configuration `NAME`, `NAME-predictN` for
/// each depth: the same settings with `JITGUARD_PREDICT=N`, so the faults
/// key prediction saves and the exposure it adds read side by side.
pub fn with_predict(configs: Vec<BenchConfig>, depths: &[u8]) -> Vec<BenchConfig> {
    let mut out = Vec::new();
    for c in configs {
        // Prediction works with call windows only.
        let hashed = c.name.starts_with("hashed") && !c.name.contains("-insn");
        let variants: Vec<BenchConfig> = depths
            .iter()
            .filter(|_| hashed)
            .filter_map(|d| {
                let depth = d.to_string();
                c.variant(
                    format!("{}-predict{d}", c.name),
                    [("JITGUARD_PREDICT", depth.as_str())],
                )
            })
            .collect();
        out.push(c);
        out.extend(variants);
    }
    out
}

/// The measurements of one run of one workload under one configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub write_faults: u64,
    pub opens: u64,
    pub handler_ns: u64,
    pub exposed_pages_sum: u64,
    pub pages: u64,
}

/// Summary of the samples of one workload under one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub workload: String,
    pub config: String,
    pub runs: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// Median / stock median (1.0 for stock itself).
    pub ratio: f64,
    pub write_faults: u64,
    pub opens: u64,
    pub handler_ms: f64,
    /// Mean pages writable by the faulting thread per open window.
    pub exposure_pages: f64,
    pub pages: u64,
}

pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u(xs: &[u64]) -> u64 {
    let f: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
    median(&f).round() as u64
}

/// Summarises samples; `stock_median` is the stock configuration's median
/// time for the same workload.
pub fn summarise(workload: &str, config: &str, samples: &[Sample], stock_median: f64) -> Cell {
    let secs: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
    let med = median(&secs);
    let opens = median_u(&samples.iter().map(|s| s.opens).collect::<Vec<_>>());
    let exposed = median_u(
        &samples
            .iter()
            .map(|s| s.exposed_pages_sum)
            .collect::<Vec<_>>(),
    );
    Cell {
        workload: workload.into(),
        config: config.into(),
        runs: samples.len(),
        median_s: med,
        min_s: secs.iter().copied().fold(f64::INFINITY, f64::min),
        max_s: secs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ratio: med / stock_median,
        write_faults: median_u(&samples.iter().map(|s| s.write_faults).collect::<Vec<_>>()),
        opens,
        handler_ms: median(
            &samples
                .iter()
                .map(|s| s.handler_ns as f64 / 1e6)
                .collect::<Vec<_>>(),
        ),
        exposure_pages: if opens > 0 {
            exposed as f64 / opens as f64
        } else {
            0.0
        },
        pages: median_u(&samples.iter().map(|s| s.pages).collect::<Vec<_>>()),
    }
}

/// Geometric mean of the ratios of one configuration.
pub fn geomean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

pub const CSV_HEADER: &str =
    "workload,config,runs,median_s,min_s,max_s,ratio,write_faults,opens,handler_ms,exposure_pages,pages";

pub fn to_csv(cells: &[Cell]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for c in cells {
        let _ = writeln!(
            out,
            "{},{},{},{:.6},{:.6},{:.6},{:.4},{},{},{:.3},{:.2},{}",
            c.workload,
            c.config,
            c.runs,
            c.median_s,
            c.min_s,
            c.max_s,
            c.ratio,
            c.write_faults,
            c.opens,
            c.handler_ms,
            c.exposure_pages,
            c.pages
        );
    }
    out
}

pub fn to_json(cells: &[Cell], meta: &[(&str, String)]) -> String {
    let mut out = String::from("{\n");
    for (k, v) in meta {
        let _ = writeln!(out, "  \"{k}\": \"{}\",", v.replace('"', "'"));
    }
    out.push_str("  \"results\": [\n");
    for (i, c) in cells.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"workload\":\"{}\",\"config\":\"{}\",\"runs\":{},\"median_s\":{:.6},\"min_s\":{:.6},\"max_s\":{:.6},\"ratio\":{:.4},\"write_faults\":{},\"opens\":{},\"handler_ms\":{:.3},\"exposure_pages\":{:.2},\"pages\":{}}}",
            c.workload, c.config, c.runs, c.median_s, c.min_s, c.max_s, c.ratio, c.write_faults, c.opens, c.handler_ms, c.exposure_pages, c.pages
        );
        out.push_str(if i + 1 < cells.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// A Markdown table: one row per workload and configuration.
pub fn to_markdown(cells: &[Cell]) -> String {
    let mut out = String::from(
        "| workload | config | median s | spread s | × stock | write faults | opens | handler ms | µs/fault | faults/KiB written | exposure pages/open |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        // Written KiB: the code pages written at least once (4 KiB each).
        let per = |x: f64, n: u64| {
            if n == 0 {
                "–".to_string()
            } else {
                format!("{:.1}", x / n as f64)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3}–{:.3} | {:.2} | {} | {} | {:.1} | {} | {} | {} |",
            c.workload,
            c.config,
            c.median_s,
            c.min_s,
            c.max_s,
            c.ratio,
            c.write_faults,
            c.opens,
            c.handler_ms,
            per(c.handler_ms * 1000.0, c.write_faults),
            // Only the hashed policy counts distinct written pages (each
            // gets its own key once); elsewhere `pages` counts openings.
            if c.config.starts_with("hashed") {
                per(c.write_faults as f64, c.pages * 4)
            } else {
                "–".to_string()
            },
            if c.config == "stock" {
                "–".to_string()
            } else {
                format!("{:.1}", c.exposure_pages)
            }
        );
    }
    out
}

const COLOURS: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
];

/// An SVG grouped bar chart of time relative to stock (stock = 1.0) per
/// workload, one bar per guarded configuration, log-scaled when the ratios
/// span more than 4x.
pub fn to_svg(cells: &[Cell], title: &str) -> String {
    let mut workloads: Vec<&str> = Vec::new();
    let mut configs: Vec<&str> = Vec::new();
    for c in cells.iter().filter(|c| c.config != "stock") {
        if !workloads.contains(&c.workload.as_str()) {
            workloads.push(&c.workload);
        }
        if !configs.contains(&c.config.as_str()) {
            configs.push(&c.config);
        }
    }
    let ratio = |w: &str, cf: &str| {
        cells
            .iter()
            .find(|c| c.workload == w && c.config == cf)
            .map(|c| c.ratio)
            .filter(|r| r.is_finite() && *r > 0.0)
    };
    let max = cells
        .iter()
        .filter(|c| c.config != "stock" && c.ratio.is_finite())
        .map(|c| c.ratio)
        .fold(1.0f64, f64::max);
    let log = max > 4.0;
    let top = if log {
        10f64.powf(max.log10().ceil())
    } else {
        (max * 1.1).max(1.2)
    };
    let (left, right, top_pad, bottom) = (60.0, 90.0, 50.0, 110.0);
    let group_w = (configs.len() as f64 * 14.0 + 16.0).max(44.0);
    let width = (left + right + group_w * workloads.len().max(1) as f64).max(720.0);
    let height = 420.0;
    let plot_h = height - top_pad - bottom;
    let y = |r: f64| -> f64 {
        let frac = if log {
            (r.max(0.5).log10() - 0.5f64.log10()) / (top.log10() - 0.5f64.log10())
        } else {
            r / top
        };
        top_pad + plot_h * (1.0 - frac.clamp(0.0, 1.0))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">{}</text>",
        xml(title)
    );
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"36\" fill=\"#555\">time relative to stock WAMR (1.0 = stock; lower is better){}</text>",
        if log { ", log scale" } else { "" }
    );
    // Grid lines.
    let ticks: Vec<f64> = if log {
        let mut t = vec![0.5, 1.0];
        let mut v = 2.0;
        while v <= top {
            t.push(v);
            v *= if t.len() % 2 == 0 { 2.5 } else { 2.0 };
        }
        t
    } else {
        (0..=((top / 0.2) as usize))
            .map(|i| i as f64 * 0.2)
            .collect()
    };
    for t in ticks {
        let yy = y(t);
        let colour = if (t - 1.0).abs() < 1e-9 {
            "#000"
        } else {
            "#ddd"
        };
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t:.1}</text>",
            width - right,
            left - 4.0,
            yy + 4.0
        );
    }
    for (wi, w) in workloads.iter().enumerate() {
        let gx = left + wi as f64 * group_w + 6.0;
        for (ci, cf) in configs.iter().enumerate() {
            if let Some(r) = ratio(w, cf) {
                let x = gx + ci as f64 * 14.0;
                let (y0, y1) = (y(r), y(if log { 0.5 } else { 0.0 }));
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"12\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {r:.2}x</title></rect>",
                    (y1 - y0).max(0.5),
                    COLOURS[ci % COLOURS.len()],
                    xml(w),
                    xml(cf)
                );
            }
        }
        let lx = gx + group_w / 2.0 - 6.0;
        let ly = height - bottom + 12.0;
        let _ = writeln!(
            s,
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" transform=\"rotate(45 {lx:.1} {ly:.1})\">{}</text>",
            xml(w)
        );
    }
    for (ci, cf) in configs.iter().enumerate() {
        let x = left + ci as f64 * 110.0;
        let yy = height - 14.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{yy:.1}\">{}</text>",
            yy - 10.0,
            COLOURS[ci % COLOURS.len()],
            x + 16.0,
            xml(cf)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {

    #[test]
    fn window_variants_double_only_the_guarded_configs() {
        let (configs, _) = standard_configs(false);
        let d = with_detectors(configs.clone());
        let names: Vec<&str> = d.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stock",
                "mprotect",
                "mprotect-bare",
                "mprotect-attest",
                "mprotect-sweep100",
                "mprotect-gadgets"
            ]
        );
        let sweep = d[4].env.as_ref().unwrap();
        assert!(sweep.contains(&("JITGUARD_ATTEST".into(), "100".into())));
        assert!(sweep.contains(&("JITGUARD_BACKEND".into(), "mprotect".into())));
        let both = with_windows(configs, &["call".to_string(), "insn".to_string()]);
        let names: Vec<&str> = both.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["stock", "mprotect", "mprotect-insn"]);
        let insn = both[2].env.as_ref().unwrap();
        assert!(insn.contains(&("JITGUARD_WINDOW".to_string(), "insn".to_string())));
        assert!(both[0].env.is_none());
    }

    use super::*;

    fn sample(s: f64, faults: u64) -> Sample {
        Sample {
            seconds: s,
            write_faults: faults,
            opens: faults,
            handler_ns: faults * 1000,
            exposed_pages_sum: faults * 3,
            pages: 7,
        }
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let c = summarise(
            "gemm",
            "hashed",
            &[sample(1.1, 10), sample(1.3, 12), sample(1.2, 11)],
            1.0,
        );
        assert!((c.ratio - 1.2).abs() < 1e-9);
        assert_eq!((c.min_s, c.max_s), (1.1, 1.3));
        assert_eq!(c.write_faults, 11);
        assert!((c.exposure_pages - 3.0).abs() < 1e-9);
        assert!((geomean(&[1.0, 4.0]) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn outputs_are_well_formed() {
        let cells = vec![
            summarise("gemm", "stock", &[sample(1.0, 0)], 1.0),
            summarise("gemm", "mprotect", &[sample(2.0, 100)], 1.0),
            summarise("a<b", "hashed", &[sample(1.1, 100)], 1.0),
        ];
        let csv = to_csv(&cells);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.lines().all(|l| l.split(',').count() == 12));
        let json = to_json(&cells, &[("date", "2026-11-22".into())]);
        assert!(json.contains("\"ratio\":2.0000"));
        let md = to_markdown(&cells);
        assert!(md.contains("| gemm | mprotect | 2.000 |"));
        let svg = to_svg(&cells, "t");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a&lt;b"));
        assert_eq!(
            svg.matches("<title>").count(),
            2,
            "one bar per guarded cell"
        );
    }

    #[test]
    fn manifest_lines() {
        let m = parse_manifest("name\tkind\targs\texpected_exit\tdescription\n# c\ngemm\tkernel\t\t0\tmatrix multiply\noob\tnegative\t-x 3\t1\treads out of bounds\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "gemm");
        assert!(m[0].args.is_empty());
        assert_eq!(m[1].args, vec!["-x", "3"]);
        assert_eq!(m[1].expected_exit, 1);
        let q = parse_manifest("qjs\tbig\ta.js\t0\td\t-\t--stack-size=262144\tno\n");
        assert!(q[0].expected_stderr.is_empty(), "- is an empty field");
        assert!(parse_manifest("g\tkernel\t-\t0\td\t-\t-\tyes\n")[0]
            .args
            .is_empty());
        assert_eq!(
            q[0].iwasm_args("q.wasm"),
            vec!["--fast-jit", "--stack-size=262144", "q.wasm", "a.js"]
        );
    }

    #[test]
    fn configs_without_pku_are_reported_as_skipped() {
        let (c, skipped) = standard_configs(false);
        assert_eq!(
            c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["stock", "mprotect"]
        );
        assert_eq!(skipped.len(), 2);
        let (c, skipped) = standard_configs(true);
        assert_eq!(c.len(), 4);
        assert!(skipped.is_empty());
    }

    #[test]
    fn before_adds_a_baseline_beside_each_guarded_configuration() {
        let mk = |name: &str, env: Option<Vec<(String, String)>>| BenchConfig {
            name: name.into(),
            env,
        };
        let cfgs = vec![
            mk("stock", None),
            mk(
                "mprotect",
                Some(vec![("JITGUARD_BACKEND".into(), "mprotect".into())]),
            ),
        ];
        assert_eq!(with_before(cfgs.clone(), None), cfgs);
        let out = with_before(cfgs, Some("/tmp/old.so"));
        let names: Vec<_> = out.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["stock", "mprotect", "mprotect-before"]);
        let env = out[2].env.as_ref().unwrap();
        assert_eq!(env[0].0, "JITGUARD_BACKEND");
        assert_eq!(
            env.last().unwrap(),
            &("LD_PRELOAD".to_string(), "/tmp/old.so".to_string())
        );
    }

    #[test]
    fn predict_variants_sit_beside_hashed_configurations_only() {
        let (pk, _) = standard_configs(true);
        let names: Vec<String> = with_predict(pk, &[4, 8])
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "stock",
                "hashed",
                "hashed-predict4",
                "hashed-predict8",
                "single",
                "mprotect"
            ]
        );
    }
}
