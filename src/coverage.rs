//! Which profile judges a write: the one that covers the module whose call
//! created the written region.
//!
//! One process may hold several runtimes with code of their own (QEMU's
//! code generator and the PCRE2 that GLib links in): each profile judges
//! only the code memory its runtime made. A region remembers where the
//! call that created it returns to (`Region::creator`); the module there
//! picks the profile:
//!
//! 1. the profile given with `JITGUARD_PROFILE`, when it names that module
//!    (a `module`, `site` or `function` entry, or a `detect` function in it);
//! 2. else the built-in profile whose `detect` functions live there;
//! 3. else the given profile, if any (the user chose it for the process);
//! 4. else none: the documented no-profile behaviour (writes open
//!    unjudged, counted, with a one-line notice).
//!
//! A region whose creator is unknown (mapped before jitguard started)
//! skips 1 and 2.
//!
//! The covering profile may also say that W+X memory mapped while one of
//! its `unguarded-during` functions runs is not code at all: QEMU maps its
//! guest's memory with the guest's protection (a guest JIT's RWX buffer is
//! RWX on the host), but only ever executes its own translation buffer.
//! Such a mapping is left as the program asked, unguarded.

use crate::modules::{Module, ModuleTable};
use crate::profile::Profile;

/// Run-time code ranges of the modules a profile covers, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Covers(Vec<(u64, u64)>);

impl Covers {
    fn of<'a>(modules: impl Iterator<Item = &'a Module>) -> Covers {
        let mut r: Vec<(u64, u64)> = modules.flat_map(|m| m.exec.iter().copied()).collect();
        r.sort_unstable();
        Covers(r)
    }

    pub fn contains(&self, addr: u64) -> bool {
        let i = self.0.partition_point(|r| r.0 <= addr);
        i > 0 && addr < self.0[i - 1].1
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The modules holding a profile's `detect` functions (never a shared
/// routine library): a built-in profile's runtime.
pub fn home(p: &Profile, table: &ModuleTable) -> Covers {
    Covers::of(table.modules().iter().map(|m| &**m).filter(|m| {
        !m.is_shared()
            && p.detect
                .iter()
                .any(|d| m.functions_named(d).next().is_some())
    }))
}

/// The run-time ranges of a profile's `unguarded-during` functions, in
/// the modules `covers` (the profile's own).
pub fn unguarded(p: &Profile, table: &ModuleTable, covers: &Covers) -> Covers {
    let mut r: Vec<(u64, u64)> = table
        .modules()
        .iter()
        .filter(|m| m.exec.iter().any(|e| covers.contains(e.0)))
        .flat_map(|m| {
            p.unguarded
                .iter()
                .flat_map(move |n| m.functions_named(n).collect::<Vec<_>>())
        })
        .collect();
    r.sort_unstable();
    Covers(r)
}

/// Whether a mapping whose creating call returned through `frames` (the
/// first frame outside jitguard first, then its callers' return
/// addresses) is made beneath one of the `unguarded` functions.
pub fn made_beneath(unguarded: &Covers, frames: &[u64]) -> bool {
    // A return address names the call inside its function: the byte
    // before it.
    frames
        .iter()
        .any(|&f| unguarded.contains(f.wrapping_sub(1)))
}

/// The modules a given profile names: its `module`, `site` and `function`
/// entries, and its `detect` functions' modules.
pub fn named(p: &Profile, table: &ModuleTable) -> Covers {
    let names: Vec<&str> = p
        .modules
        .keys()
        .map(String::as_str)
        .chain(p.sites.keys().map(|(m, _)| m.as_str()))
        .chain(p.functions.iter().map(|(m, _)| m.as_str()))
        .collect();
    let h = home(p, table);
    Covers::of(
        table
            .modules()
            .iter()
            .map(|m| &**m)
            .filter(|m| names.contains(&m.name.as_str()) || m.exec.iter().any(|r| h.contains(r.0))),
    )
}

/// The profiles in force in one process, each with what it covers; `T`
/// is what the fault handler needs of each (its resolved policy).
#[derive(Clone, Debug)]
pub struct Judges<T> {
    /// `JITGUARD_PROFILE`'s profile and the modules it names.
    pub given: Option<(Covers, T)>,
    /// Detected built-in profiles and their runtimes' modules.
    pub builtin: Vec<(Covers, T)>,
    /// Neither: no profile (or learn mode, which records every writer).
    pub fallback: T,
}

impl<T> Judges<T> {
    /// The judge of writes to a region created from `creator`.
    pub fn for_creator(&self, creator: Option<u64>) -> &T {
        if let Some(c) = creator {
            if let Some((cov, t)) = &self.given {
                if cov.contains(c) {
                    return t;
                }
            }
            if let Some((_, t)) = self.builtin.iter().find(|(cov, _)| cov.contains(c)) {
                return t;
            }
        }
        self.given.as_ref().map_or(&self.fallback, |(_, t)| t)
    }

    /// Every judge in force, the given profile first (none: the fallback).
    pub fn all(&self) -> impl Iterator<Item = &T> {
        let any = self.given.is_some() || !self.builtin.is_empty();
        self.given
            .iter()
            .map(|(_, t)| t)
            .chain(self.builtin.iter().map(|(_, t)| t))
            .chain((!any).then_some(&self.fallback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::SymbolTable;
    use crate::modules::tests::sample;
    use std::sync::Arc;

    /// `sample()` plus a library `libjit.so` with a function `jit_compile`.
    fn table() -> ModuleTable {
        let t = sample();
        let lib = Module {
            name: "libjit.so".into(),
            path: "/lib/libjit.so".into(),
            bias: 0x6000_0000_0000,
            exec: vec![(0x6000_0000_1000, 0x6000_0000_9000)],
            symbols: SymbolTable::from_list([(0x1000, 0x100, "jit_compile")]),
            ..Module::default()
        };
        let mut m = t.modules().to_vec();
        m.push(Arc::new(lib));
        ModuleTable::new(m)
    }

    const APP: u64 = 0x5555_0000_1234;
    const LIB: u64 = 0x6000_0000_2000;
    const LIBC: u64 = 0x7f00_0002_0010;

    #[test]
    fn a_builtin_covers_the_module_of_its_detect_functions() {
        let t = table();
        let p = Profile::parse("detect jit_compile\n").unwrap();
        let h = home(&p, &t);
        assert!(h.contains(LIB) && !h.contains(APP) && !h.contains(LIBC));
    }

    #[test]
    fn a_given_profile_names_the_modules_of_its_entries() {
        let t = table();
        let p = Profile::parse("module app build-id abcd\nsite app+0x10\n").unwrap();
        let n = named(&p, &t);
        assert!(n.contains(APP) && !n.contains(LIB));
        let symbols_only = Profile::parse("symbol emit\n").unwrap();
        assert!(named(&symbols_only, &t).is_empty(), "names no module");
        let detecting = Profile::parse("detect jit_compile\nsymbol emit\n").unwrap();
        assert!(named(&detecting, &t).contains(LIB));
    }

    #[test]
    fn each_region_is_judged_by_the_profile_of_its_creator() {
        let t = table();
        let app = Profile::parse("site app+0x10\n").unwrap();
        let lib = Profile::parse("detect jit_compile\n").unwrap();
        let j = Judges {
            given: Some((named(&app, &t), "app")),
            builtin: vec![(home(&lib, &t), "lib")],
            fallback: "none",
        };
        assert_eq!(*j.for_creator(Some(APP)), "app");
        assert_eq!(*j.for_creator(Some(LIB)), "lib");
        assert_eq!(*j.for_creator(Some(LIBC)), "app", "given: all else");
        assert_eq!(*j.for_creator(None), "app");
        assert_eq!(j.all().copied().collect::<Vec<_>>(), ["app", "lib"]);
        let builtins_only = Judges {
            given: None,
            ..j.clone()
        };
        assert_eq!(*builtins_only.for_creator(Some(LIB)), "lib");
        assert_eq!(*builtins_only.for_creator(Some(APP)), "none");
        assert_eq!(*builtins_only.for_creator(None), "none");
        let nothing = Judges::<&str> {
            given: None,
            builtin: vec![],
            fallback: "none",
        };
        assert_eq!(nothing.all().copied().collect::<Vec<_>>(), ["none"]);
    }

    #[test]
    fn unguarded_functions_are_looked_up_in_the_profiles_own_modules() {
        let t = table();
        let p = Profile::parse(
            "detect jit_compile\nunguarded-during jit_compile\nunguarded-during emit\n",
        )
        .unwrap();
        assert_eq!(Profile::parse(&p.render()).unwrap(), p);
        let u = unguarded(&p, &t, &home(&p, &t));
        assert!(
            made_beneath(&u, &[APP, 0x6000_0000_1001]),
            "inside jit_compile"
        );
        assert!(
            !made_beneath(&u, &[0x6000_0000_1000]),
            "the byte before is outside"
        );
        assert!(
            !made_beneath(&u, &[0x5555_0000_1101]),
            "emit is the app's, not the runtime's"
        );
        assert!(!made_beneath(&u, &[]));
    }

    #[test]
    fn a_given_profile_naming_a_builtins_module_takes_it_over() {
        let t = table();
        let mine = Profile::parse("site libjit.so+0x1010\n").unwrap();
        let lib = Profile::parse("detect jit_compile\n").unwrap();
        let j = Judges {
            given: Some((named(&mine, &t), "mine")),
            builtin: vec![(home(&lib, &t), "lib")],
            fallback: "none",
        };
        assert_eq!(*j.for_creator(Some(LIB)), "mine");
    }
}
