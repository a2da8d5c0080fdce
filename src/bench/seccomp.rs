//! `jitguard bench --seccomp off,trap`: every guarded configuration once
//! per seccomp setting, to show the filter's cost beside jitguard without
//! it.

use super::BenchConfig;

/// Each guarded configuration once per `JITGUARD_SECCOMP` value: `NAME`
/// for the first value listed, `NAME-VALUE` for the others (stock stays
/// one). An empty list leaves the configurations as they are (the
/// library's default, `auto`).
pub fn with_seccomp(configs: Vec<BenchConfig>, settings: &[String]) -> Vec<BenchConfig> {
    if settings.is_empty() {
        return configs;
    }
    let mut out = Vec::new();
    for c in configs {
        if c.env.is_none() {
            out.push(c);
            continue;
        }
        for (i, s) in settings.iter().enumerate() {
            let name = if i == 0 {
                c.name.clone()
            } else {
                format!("{}-{s}", c.name)
            };
            out.extend(c.variant(name, [("JITGUARD_SECCOMP", s.as_str())]));
        }
    }
    out
}

/// Whether `s` is a `JITGUARD_SECCOMP` value.
pub fn is_setting(s: &str) -> bool {
    matches!(s, "off" | "auto" | "vmwrite" | "trap")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, env: Option<Vec<(String, String)>>) -> BenchConfig {
        BenchConfig {
            name: name.into(),
            env,
        }
    }

    #[test]
    fn each_guarded_config_runs_once_per_setting() {
        let base = vec![cfg("stock", None), cfg("mprotect", Some(vec![]))];
        let got = with_seccomp(base.clone(), &["off".into(), "trap".into()]);
        let names: Vec<_> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["stock", "mprotect", "mprotect-trap"]);
        let env = got[2].env.as_ref().unwrap();
        assert!(env.contains(&("JITGUARD_SECCOMP".into(), "trap".into())));
        assert_eq!(with_seccomp(base.clone(), &[]), base);
        assert!(is_setting("trap") && !is_setting("on"));
    }
}
