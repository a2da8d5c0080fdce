//! Writer profiles: the emit sites allowed to open a code page.
//!
//! A profile is a text file a person can read and edit:
//!
//! ```text
//! # jitguard writer profile 1
//! module iwasm build-id 5f0c...      # identity: offsets hold for this build only
//! site iwasm+0x4a1f3                 # gc_alloc_vo+0x53 via libc.so.6
//! symbol jit_codegen_gen_native      # any instruction of a function so named
//! prefix _ZN9Assembler               # ... or of any function whose name starts so
//! suffix 4emitER10CodeBuffer         # ... or ends so (a method over many classes)
//! function libpcre2-8.so.0+0x20da9   # the whole function there (by its FDE),
//!                                    # for modules without symbols
//! detect jit_compiler_compile        # built-ins: applies when a module has it
//! during pcre2_jit_compile_8         # any write made while this function runs
//! unguarded-during target_mmap       # W+X memory mapped while this runs is
//!                                    # not code (an emulator's guest memory)
//! ```
//!
//! A `during` entry vouches for whatever runs beneath a call to the named
//! function (found by name in the runtime's own module, `.dynsym`
//! included): a write is trusted when one of the frames above the writer
//! returns into it. It lets a stripped build's exported entry point stand
//! for the unnamed code it calls; it also trusts everything that code
//! calls, callbacks included (see SECURITY.md).
//!
//! A `site` is the *deciding frame* of a write: the writing instruction
//! itself, or, when that instruction is in a shared routine library (libc's
//! memcpy, a mutex operation), the return address into the first caller
//! outside those libraries. Learned profiles list sites; built-in ones list
//! symbols, so any build of the runtime that has symbols fits. Everything
//! after `#` is a comment.

use crate::modules::{Module, ModuleTable, Place};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

const HEADER: &str = "# jitguard writer profile 1";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Module name -> build id, when known.
    pub modules: BTreeMap<String, String>,
    /// (module, offset) -> comment (symbol, route), for the reader.
    pub sites: BTreeMap<(String, u64), String>,
    /// (module, offset): the whole function containing it, found through
    /// the module's unwind tables (for stripped modules).
    pub functions: BTreeSet<(String, u64)>,
    pub symbols: BTreeSet<String>,
    /// Name prefixes: every function whose symbol starts with one (a C++
    /// class's methods, such as an assembler's one-per-instruction emitters).
    pub prefixes: BTreeSet<String>,
    /// Name suffixes: one method of many classes (C2's `Node::emit`s).
    pub suffixes: BTreeSet<String>,
    /// Built-in profiles: functions whose presence selects the profile.
    pub detect: BTreeSet<String>,
    /// Functions that vouch for every write made while they run.
    pub during: BTreeSet<String>,
    /// Functions whose W+X mappings are left unguarded: memory the
    /// runtime maps as W+X but never executes (QEMU's guest memory,
    /// mapped with the guest's protection). See `jg::coverage`.
    pub unguarded: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Profile {
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let mut p = Profile::default();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| ProfileError {
                line: i + 1,
                message,
            };
            let (body, comment) = match raw.split_once('#') {
                Some((b, c)) => (b, c.trim()),
                None => (raw, ""),
            };
            let words: Vec<&str> = body.split_whitespace().collect();
            match words[..] {
                [] => {}
                ["module", name, "build-id", id] => {
                    p.modules.insert(name.to_string(), id.to_string());
                }
                [kind @ ("site" | "function"), place] => {
                    let (module, off) = place
                        .rsplit_once('+')
                        .ok_or_else(|| err(format!("{kind} `{place}` is not module+0xOFFSET")))?;
                    let off = off
                        .strip_prefix("0x")
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                        .ok_or_else(|| err(format!("bad offset in `{place}`")))?;
                    if kind == "site" {
                        p.sites
                            .insert((module.to_string(), off), comment.to_string());
                    } else {
                        p.functions.insert((module.to_string(), off));
                    }
                }
                ["symbol", name] => {
                    p.symbols.insert(name.to_string());
                }
                ["prefix", name] => {
                    p.prefixes.insert(name.to_string());
                }
                ["suffix", name] => {
                    p.suffixes.insert(name.to_string());
                }
                ["detect", name] => {
                    p.detect.insert(name.to_string());
                }
                ["during", name] => {
                    p.during.insert(name.to_string());
                }
                ["unguarded-during", name] => {
                    p.unguarded.insert(name.to_string());
                }
                _ => {
                    return Err(err(format!(
                        "expected `module NAME build-id ID`, `site MODULE+0xOFF`, `symbol NAME`, `prefix NAME`, `suffix NAME`, `during NAME`, `unguarded-during NAME` or `detect NAME`, found `{}`",
                        body.trim()
                    )))
                }
            }
        }
        Ok(p)
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
            && self.functions.is_empty()
            && self.symbols.is_empty()
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.during.is_empty()
    }

    /// Adds `other`'s entries (a later learn run widening a profile).
    pub fn merge(&mut self, other: Profile) {
        self.modules.extend(other.modules);
        for (k, v) in other.sites {
            self.sites.entry(k).or_insert(v);
        }
        self.functions.extend(other.functions);
        self.symbols.extend(other.symbols);
        self.prefixes.extend(other.prefixes);
        self.suffixes.extend(other.suffixes);
        self.detect.extend(other.detect);
        self.during.extend(other.during);
        self.unguarded.extend(other.unguarded);
    }

    /// Records one learned write: its deciding frame and, when different,
    /// the shared-library instruction that wrote.
    pub fn learn(&mut self, decider: &Place<'_>, writer: Option<&Place<'_>>) {
        let Some(m) = decider.module else { return };
        if let Some(id) = &m.build_id {
            self.modules.insert(m.name.clone(), id.clone());
        }
        let mut comment = String::new();
        if let Some((s, o)) = decider.symbol {
            let _ = write!(comment, "{s}+{o:#x}");
        }
        if let Some(w) = writer.and_then(|w| w.module) {
            let _ = write!(
                comment,
                "{}via {}",
                if comment.is_empty() { "" } else { " " },
                w.name
            );
        }
        // A stripped module's writer has no name a later build or run
        // could match, and one run reaches only some of its instructions
        // (WAMR's allocator frees code memory through other stores of the
        // same functions at unload): its whole function, found by its FDE
        // for this build, is recorded too. A return address names the call
        // inside its function: the byte before it.
        if decider.symbol.is_none() && m.build_id.is_some() {
            let at = if writer.is_some() {
                decider.offset.wrapping_sub(1)
            } else {
                decider.offset
            };
            self.functions.insert((m.name.clone(), at));
        }
        self.sites
            .entry((m.name.clone(), decider.offset))
            .or_insert(comment);
    }

    /// How many learned entries (sites and functions) the profile holds:
    /// a run that adds none to a merged profile found nothing new.
    pub fn learned_entries(&self) -> usize {
        self.sites.len() + self.functions.len()
    }

    pub fn render(&self) -> String {
        let mut s = format!("{HEADER}\n");
        for (name, id) in &self.modules {
            let _ = writeln!(s, "module {name} build-id {id}");
        }
        for name in &self.detect {
            let _ = writeln!(s, "detect {name}");
        }
        for name in &self.symbols {
            let _ = writeln!(s, "symbol {name}");
        }
        for name in &self.prefixes {
            let _ = writeln!(s, "prefix {name}");
        }
        for name in &self.suffixes {
            let _ = writeln!(s, "suffix {name}");
        }
        for name in &self.during {
            let _ = writeln!(s, "during {name}");
        }
        for name in &self.unguarded {
            let _ = writeln!(s, "unguarded-during {name}");
        }
        for (m, off) in &self.functions {
            let _ = writeln!(s, "function {m}+{off:#x}");
        }
        for ((m, off), comment) in &self.sites {
            let place = format!("{m}+{off:#x}");
            if comment.is_empty() {
                let _ = writeln!(s, "site {place}");
            } else {
                let _ = writeln!(s, "site {place:<28} # {comment}");
            }
        }
        s
    }

    /// Whether this (built-in) profile applies to the loaded modules.
    pub fn detected(&self, table: &ModuleTable) -> bool {
        !self.detect.is_empty() && self.detect.iter().all(|d| table.has_function(d))
    }

    /// The allowed run-time address ranges under the loaded modules, and a
    /// warning for each module whose build differs from the profile's.
    /// `function` entries are widened to their function by `function_at`
    /// (the caller reads the module's unwind tables).
    pub fn resolve_with(
        &self,
        table: &ModuleTable,
        function_at: impl Fn(&Module, u64) -> Option<(u64, u64)>,
        cache: &mut RangeCache,
    ) -> (Allowed, Vec<String>) {
        let (allowed, warnings) = self.resolve_cached(table, cache);
        let mut extra = vec![];
        for (name, off) in &self.functions {
            let Some(m) = table.by_name(name) else {
                continue;
            };
            if self.modules.get(name).map(String::as_str)
                != Some(m.build_id.as_deref().unwrap_or("none"))
            {
                continue; // offsets of another (or an unknown) build
            }
            if let Some(r) = function_at(m, m.bias.wrapping_add(*off)) {
                extra.push(r);
            }
        }
        (allowed.including(&extra), warnings)
    }

    /// As `resolve_with`, without `function` entries.
    pub fn resolve(&self, table: &ModuleTable) -> (Allowed, Vec<String>) {
        self.resolve_cached(table, &mut RangeCache::default())
    }

    /// The run-time ranges of `m`'s functions that the symbol, prefix and
    /// suffix entries name: one pass over its symbols (a HotSpot or V8
    /// binary has 80,000-150,000), remembered in `cache` for the rebuilds
    /// after later dlopens.
    fn symbol_ranges(&self, m: &Module, cache: &mut RangeCache) -> Vec<(u64, u64)> {
        // Keyed by the build id too: a file replaced on disk and loaded
        // again at the same address is another module. Without a build id
        // nothing is remembered.
        let key = m
            .build_id
            .as_ref()
            .map(|id| (m.path.clone(), m.bias, id.clone()));
        if let Some(r) = key.as_ref().and_then(|k| cache.0.get(k)) {
            return r.clone();
        }
        let mut ranges = vec![];
        if !(self.symbols.is_empty() && self.prefixes.is_empty() && self.suffixes.is_empty()) {
            for (start, size, name) in m.symbols.iter() {
                if self.symbols.contains(name)
                    || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
                    || self.suffixes.iter().any(|x| name.ends_with(x.as_str()))
                {
                    let lo = start.wrapping_add(m.bias);
                    ranges.push((lo, lo + size.max(1)));
                }
            }
        }
        if let Some(k) = key {
            cache.0.insert(k, ranges.clone());
        }
        ranges
    }

    /// As `resolve`, reusing per-module results from `cache`.
    pub fn resolve_cached(
        &self,
        table: &ModuleTable,
        cache: &mut RangeCache,
    ) -> (Allowed, Vec<String>) {
        let mut ranges = vec![];
        let mut warnings = vec![];
        let mut stale = BTreeSet::new();
        for (name, off) in self.sites.keys() {
            let Some(m) = table.by_name(name) else {
                continue; // not loaded (yet): resolved again after dlopen
            };
            if let Some(want) = self.modules.get(name) {
                // A module whose build id cannot be read is not the build
                // the sites were learned on, as far as anyone can tell.
                let have = m.build_id.as_deref().unwrap_or("none");
                if want != have {
                    if stale.insert(name.clone()) {
                        warnings.push(format!(
                            "profile sites for {name} ignored: learned on build {want}, loaded build is {have}"
                        ));
                    }
                    continue;
                }
            }
            let a = m.bias.wrapping_add(*off);
            ranges.push((a, a + 1));
        }
        // A built-in profile's symbols count only in the module(s) that
        // hold its `detect` functions (the runtime itself), so a native
        // library cannot borrow a trusted name.
        let home = |m: &Module| {
            self.detect.is_empty()
                || self
                    .detect
                    .iter()
                    .any(|d| m.functions_named(d).next().is_some())
        };
        let mut during = vec![];
        for m in table.modules().iter().filter(|m| !m.is_shared() && home(m)) {
            ranges.extend(self.symbol_ranges(m, cache));
            for name in &self.during {
                during.extend(m.functions_named(name));
            }
        }
        (Allowed::new(ranges).vouched_by(during), warnings)
    }
}

/// The built-in profiles, by name; each applies where its `detect`
/// functions are present.
pub fn builtin() -> Vec<(&'static str, Profile)> {
    const BUILTIN: [(&str, &str); 5] = [
        (
            "wamr-fast-jit",
            include_str!("../profiles/wamr-fast-jit.profile"),
        ),
        ("pcre2-jit", include_str!("../profiles/pcre2-jit.profile")),
        ("node-v8", include_str!("../profiles/node-v8.profile")),
        ("hotspot", include_str!("../profiles/hotspot.profile")),
        ("qemu-tcg", include_str!("../profiles/qemu-tcg.profile")),
    ];
    BUILTIN
        .iter()
        .map(|(n, t)| (*n, Profile::parse(t).expect("built-in profiles parse")))
        .collect()
}

/// Per-module results of a profile's name entries, by (path, load bias,
/// build id).
#[derive(Clone, Debug, Default)]
pub struct RangeCache(BTreeMap<(String, u64, String), Vec<(u64, u64)>>);

impl RangeCache {
    pub const fn new() -> RangeCache {
        RangeCache(BTreeMap::new())
    }
}

/// Allowed deciding-frame addresses, as sorted disjoint ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    ranges: Vec<(u64, u64)>,
    /// Functions whose running vouches for the writes beneath them.
    during: Vec<(u64, u64)>,
}

/// Sorted, merged copies of `ranges`.
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
            _ => out.push(r),
        }
    }
    out
}

fn in_ranges(ranges: &[(u64, u64)], addr: u64) -> bool {
    let i = ranges.partition_point(|r| r.0 <= addr);
    i > 0 && addr < ranges[i - 1].1
}

impl Allowed {
    pub fn new(ranges: Vec<(u64, u64)>) -> Allowed {
        Allowed {
            ranges: merged(ranges),
            during: vec![],
        }
    }

    /// These ranges, with `during` as vouching functions.
    pub fn vouched_by(mut self, during: Vec<(u64, u64)>) -> Allowed {
        self.during.extend(during);
        self.during = merged(core::mem::take(&mut self.during));
        self
    }

    /// These ranges and `extra`.
    pub fn including(self, extra: &[(u64, u64)]) -> Allowed {
        let mut r = self.ranges;
        r.extend_from_slice(extra);
        Allowed {
            ranges: merged(r),
            during: self.during,
        }
    }

    /// Whether a deciding frame at `addr` is trusted.
    pub fn contains(&self, addr: u64) -> bool {
        in_ranges(&self.ranges, addr)
    }

    /// Whether a frame at `addr` (a return address above the writer) lies
    /// in a vouching function.
    pub fn vouches(&self, addr: u64) -> bool {
        in_ranges(&self.during, addr)
    }

    /// Whether any function vouches: only then is the walk above the
    /// deciding frame worth its cost.
    pub fn has_vouchers(&self) -> bool {
        !self.during.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::tests::sample;

    #[test]
    fn parses_renders_and_round_trips() {
        let text = "# jitguard writer profile 1\n\
                    module app build-id abcd\n\
                    site app+0x1110   # emit+0x10 via libc.so.6\n\
                    symbol emit\n\
                    detect emit\n";
        let p = Profile::parse(text).unwrap();
        assert_eq!(p.sites.len(), 1);
        assert_eq!(
            p.sites[&("app".to_string(), 0x1110)],
            "emit+0x10 via libc.so.6"
        );
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
    }

    #[test]
    fn during_entries_vouch_in_the_runtime_module_only() {
        let t = sample();
        let p = Profile::parse("detect emit\nduring emit\n").unwrap();
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
        let (allowed, _) = p.resolve(&t);
        assert!(allowed.has_vouchers());
        assert!(allowed.vouches(0x5555_0000_1180), "a return into emit");
        assert!(!allowed.vouches(0x5555_0000_1200), "past emit");
        assert!(
            !allowed.contains(0x5555_0000_1180),
            "vouching is not a trusted deciding frame"
        );
        let none = Profile::parse("symbol emit\n").unwrap().resolve(&t).0;
        assert!(!none.has_vouchers());
        let widened = allowed.including(&[(1, 2)]);
        assert!(widened.vouches(0x5555_0000_1180) && widened.contains(1));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Profile::parse("site app+0x10\nsite nonsense\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("module+0xOFFSET"));
        assert!(Profile::parse("allow everything").is_err());
        assert!(Profile::parse("site app+12z").is_err());
    }

    #[test]
    fn resolves_sites_and_symbols_to_run_time_ranges() {
        let t = sample();
        let p = Profile::parse("site app+0x2010\nsymbol emit\n").unwrap();
        let (allowed, warnings) = p.resolve(&t);
        assert!(warnings.is_empty());
        assert!(allowed.contains(0x5555_0000_2010), "the learned site");
        assert!(!allowed.contains(0x5555_0000_2011), "a site is one address");
        assert!(allowed.contains(0x5555_0000_1100) && allowed.contains(0x5555_0000_11ff));
        assert!(!allowed.contains(0x5555_0000_1200), "past the symbol");
    }

    #[test]
    fn another_build_of_a_module_voids_its_sites() {
        let t = sample();
        let p = Profile::parse("module app build-id ffff\nsite app+0x2010\n").unwrap();
        let (allowed, warnings) = p.resolve(&t);
        assert!(allowed.is_empty());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("build ffff"));
    }

    #[test]
    fn symbols_never_allow_a_shared_library() {
        let mut t = sample();
        let mut libc = (*t.modules()[0]).clone();
        libc.symbols = crate::elf::SymbolTable::from_list([(0x20000, 0x100, "memcpy")]);
        t = ModuleTable::new(vec![std::sync::Arc::new(libc), t.modules()[1].clone()]);
        let (allowed, _) = Profile::parse("symbol memcpy").unwrap().resolve(&t);
        assert!(allowed.is_empty());
    }

    #[test]
    fn builtin_symbols_count_only_in_the_detected_module() {
        let t = sample();
        let mut lib = (*t.modules()[1]).clone();
        lib.name = "librogue.so".into();
        lib.bias = 0x6000_0000_0000;
        lib.exec = vec![(0x6000_0000_1000, 0x6000_0000_9000)];
        lib.symbols.retain(|_, _, n| n == "emit"); // borrows the trusted name
        let t = ModuleTable::new(vec![
            t.modules()[0].clone(),
            t.modules()[1].clone(),
            std::sync::Arc::new(lib),
        ]);
        let p = Profile::parse("detect rogue\nsymbol emit\n").unwrap();
        let (allowed, _) = p.resolve(&t);
        assert!(allowed.contains(0x5555_0000_1100), "the runtime's own emit");
        assert!(
            !allowed.contains(0x6000_0000_1100),
            "a library's function of the same name"
        );
    }

    #[test]
    fn function_entries_widen_to_the_function_of_the_same_build() {
        let t = sample();
        let p = Profile::parse("module app build-id abcd\nfunction app+0x2010\n").unwrap();
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
        let (allowed, _) = p.resolve_with(
            &t,
            |_, a| Some((a - 0x10, a + 0x70)),
            &mut RangeCache::default(),
        );
        assert!(allowed.contains(0x5555_0000_2000) && allowed.contains(0x5555_0000_207f));
        let other = Profile::parse("module app build-id ffff\nfunction app+0x2010\n").unwrap();
        assert!(other
            .resolve_with(&t, |_, a| Some((a, a + 1)), &mut RangeCache::default())
            .0
            .is_empty());
        let unbound = Profile::parse("function app+0x2010\n").unwrap();
        assert!(
            unbound
                .resolve_with(&t, |_, a| Some((a, a + 1)), &mut RangeCache::default())
                .0
                .is_empty(),
            "needs a build id"
        );
    }

    #[test]
    fn prefixes_trust_every_function_so_named() {
        let t = sample();
        let p = Profile::parse("prefix em\nsuffix gue\n").unwrap();
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
        let (allowed, _) = p.resolve(&t);
        assert!(allowed.contains(0x5555_0000_1100), "emit");
        assert!(allowed.contains(0x5555_0000_2000), "rogue, by its suffix");
        let (allowed, _) = Profile::parse("prefix em").unwrap().resolve(&t);
        assert!(!allowed.contains(0x5555_0000_2000), "rogue");
    }

    #[test]
    fn a_module_without_a_build_id_does_not_take_learned_sites() {
        let t = sample();
        let mut app = (*t.modules()[1]).clone();
        app.build_id = None;
        let t = ModuleTable::new(vec![std::sync::Arc::new(app)]);
        let (allowed, warnings) = Profile::parse("module app build-id abcd\nsite app+0x2010\n")
            .unwrap()
            .resolve(&t);
        assert!(allowed.is_empty());
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn learning_records_the_decider_with_its_route() {
        let t = sample();
        let mut p = Profile::default();
        p.learn(&t.place(0x5555_0000_1123), Some(&t.place(0x7f00_0002_0010)));
        p.learn(&t.place(0x1234), None); // no module: nothing to name
        assert_eq!(p.modules["app"], "abcd");
        assert_eq!(
            p.sites[&("app".to_string(), 0x1123)],
            "emit+0x23 via libc.so.6"
        );
        assert_eq!(p.sites.len(), 1);
        assert!(p.functions.is_empty(), "a named writer");
    }

    #[test]
    fn learning_a_stripped_writer_records_its_function() {
        let t = sample();
        let mut p = Profile::default();
        p.learn(&t.place(0x5555_0000_3000), None);
        p.learn(&t.place(0x5555_0000_3100), Some(&t.place(0x7f00_0002_0010)));
        assert_eq!(
            p.functions.iter().cloned().collect::<Vec<_>>(),
            [("app".to_string(), 0x3000), ("app".to_string(), 0x30ff)],
            "a return address: the byte before it"
        );
        assert_eq!(p.learned_entries(), 4);
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
    }

    #[test]
    fn detection_needs_every_detect_symbol() {
        let t = sample();
        assert!(Profile::parse("detect emit\ndetect rogue")
            .unwrap()
            .detected(&t));
        assert!(!Profile::parse("detect emit\ndetect other")
            .unwrap()
            .detected(&t));
        assert!(!Profile::parse("symbol emit").unwrap().detected(&t));
    }

    #[test]
    fn allowed_ranges_merge() {
        let a = Allowed::new(vec![(10, 20), (15, 30), (40, 41)]);
        assert_eq!(a.len(), 2);
        assert!(a.contains(10) && a.contains(29) && a.contains(40));
        assert!(!a.contains(30) && !a.contains(41) && !a.contains(9));
    }
}
