//! The loaded modules: which one holds an address, and what it is called.
//!
//! A writer is named position-independently, as module + offset (and a
//! symbol where the module has one), so a profile learned in one run holds
//! in the next despite ASLR. The table is built outside the fault handler,
//! at start-up and after each `dlopen`/`dlclose`, then only read.

use crate::elf::SymbolTable;
use core::fmt;
use std::sync::Arc;

/// One loaded ELF object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// File name without directories: how profiles refer to it.
    pub name: String,
    pub path: String,
    pub build_id: Option<String>,
    /// Load bias: run-time address = link-time address + bias.
    pub bias: u64,
    /// Executable ranges, run-time addresses.
    pub exec: Vec<(u64, u64)>,
    /// Readable file-backed ranges (for the unwinder's table reads).
    pub data: Vec<(u64, u64)>,
    /// Run-time address of `.eh_frame_hdr`.
    pub eh_frame_hdr: Option<u64>,
    /// Function symbols at link-time addresses.
    pub symbols: SymbolTable,
    /// Loaded before jitguard started (the program and its DT_NEEDED
    /// libraries): never unloaded, so its data needs no liveness check.
    pub permanent: bool,
}

impl Module {
    /// The symbol covering a run-time address, and the offset into it.
    pub fn symbol(&self, addr: u64) -> Option<(&str, u64)> {
        self.symbols.at(addr.wrapping_sub(self.bias))
    }

    /// Run-time ranges of every function called `name`.
    pub fn functions_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.symbols
            .iter()
            .filter(move |s| s.2 == name)
            .map(|(start, size, _)| {
                let lo = start.wrapping_add(self.bias);
                (lo, lo + size.max(1))
            })
    }

    /// Whether the module is a shared routine library: a write from inside
    /// it is judged by its caller (see `is_shared_routine_library`).
    pub fn is_shared(&self) -> bool {
        is_shared_routine_library(&self.name)
    }
}

/// Libraries whose routines write on behalf of any caller (libc's memcpy
/// family, pthread mutexes, the dynamic loader's helpers): the writer that
/// counts is the first caller outside them.
pub fn is_shared_routine_library(name: &str) -> bool {
    const SHARED: [&str; 5] = [
        "libc.so",
        "libc-",
        "ld-linux-x86-64.so",
        "libpthread.so",
        "libpthread-",
    ];
    SHARED.iter().any(|p| name.starts_with(p))
}

/// Position-independent name of one code address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place<'a> {
    /// None: the address is in no module (JIT code, or anonymous memory).
    pub module: Option<&'a Module>,
    /// Offset from the module's load bias (a link-time address), or the
    /// raw address when there is no module.
    pub offset: u64,
    pub symbol: Option<(&'a str, u64)>,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.module, self.symbol) {
            (Some(m), Some((s, o))) => write!(f, "{s}+{o:#x} ({}+{:#x})", m.name, self.offset),
            (Some(m), None) => write!(f, "{}+{:#x}", m.name, self.offset),
            (None, _) => write!(f, "{:#x} (no module: JIT or anonymous code)", self.offset),
        }
    }
}

/// Every loaded module, indexed by executable range.
#[derive(Clone, Debug, Default)]
pub struct ModuleTable {
    modules: Vec<Arc<Module>>,
    /// (lo, hi, module index), sorted by lo.
    exec: Vec<(u64, u64, usize)>,
    data: Vec<(u64, u64, usize)>,
}

impl ModuleTable {
    pub fn new(modules: Vec<Arc<Module>>) -> ModuleTable {
        let mut exec = vec![];
        let mut data = vec![];
        for (i, m) in modules.iter().enumerate() {
            exec.extend(m.exec.iter().map(|&(lo, hi)| (lo, hi, i)));
            data.extend(m.data.iter().map(|&(lo, hi)| (lo, hi, i)));
        }
        exec.sort_unstable();
        data.sort_unstable();
        ModuleTable {
            modules,
            exec,
            data,
        }
    }

    pub fn modules(&self) -> &[Arc<Module>] {
        &self.modules
    }

    fn lookup(ranges: &[(u64, u64, usize)], addr: u64) -> Option<(u64, u64, usize)> {
        let i = ranges.partition_point(|r| r.0 <= addr).checked_sub(1)?;
        let r = ranges[i];
        (addr < r.1).then_some(r)
    }

    /// The module whose code holds `addr`.
    pub fn find(&self, addr: u64) -> Option<&Module> {
        Self::lookup(&self.exec, addr).map(|r| &*self.modules[r.2])
    }

    /// The readable module range holding `addr`, as (lo, hi).
    pub fn data_range(&self, addr: u64) -> Option<(u64, u64)> {
        Self::lookup(&self.data, addr).map(|r| (r.0, r.1))
    }

    /// The readable module range holding `addr`, and its module.
    pub fn data_module(&self, addr: u64) -> Option<(u64, u64, &Module)> {
        Self::lookup(&self.data, addr).map(|r| (r.0, r.1, &*self.modules[r.2]))
    }

    /// The position-independent name of `addr`.
    pub fn place(&self, addr: u64) -> Place<'_> {
        match self.find(addr) {
            Some(m) => Place {
                module: Some(m),
                offset: addr.wrapping_sub(m.bias),
                symbol: m.symbol(addr),
            },
            None => Place {
                module: None,
                offset: addr,
                symbol: None,
            },
        }
    }

    /// Whether `addr` lies in a shared routine library.
    pub fn in_shared(&self, addr: u64) -> bool {
        self.find(addr).is_some_and(Module::is_shared)
    }

    /// A module by profile name.
    pub fn by_name(&self, name: &str) -> Option<&Module> {
        self.modules.iter().map(|m| &**m).find(|m| m.name == name)
    }

    /// Whether any module has a function called `name`.
    pub fn has_function(&self, name: &str) -> bool {
        self.modules
            .iter()
            .any(|m| m.functions_named(name).next().is_some())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ModuleTable {
        let app = Module {
            name: "app".into(),
            path: "/bin/app".into(),
            build_id: Some("abcd".into()),
            bias: 0x5555_0000_0000,
            exec: vec![(0x5555_0000_1000, 0x5555_0000_9000)],
            data: vec![(0x5555_0000_0000, 0x5555_0000_a000)],
            eh_frame_hdr: None,
            permanent: true,
            symbols: SymbolTable::from_list([(0x1100, 0x100, "emit"), (0x2000, 0x80, "rogue")]),
        };
        let libc = Module {
            name: "libc.so.6".into(),
            path: "/lib/x86_64-linux-gnu/libc.so.6".into(),
            bias: 0x7f00_0000_0000,
            exec: vec![(0x7f00_0002_0000, 0x7f00_0010_0000)],
            ..Module::default()
        };
        ModuleTable::new(vec![Arc::new(libc), Arc::new(app)])
    }

    #[test]
    fn places_are_module_relative_with_symbols() {
        let t = sample();
        let p = t.place(0x5555_0000_1110);
        assert_eq!(p.module.unwrap().name, "app");
        assert_eq!(p.offset, 0x1110);
        assert_eq!(p.symbol, Some(("emit", 0x10)));
        assert_eq!(p.to_string(), "emit+0x10 (app+0x1110)");
        assert_eq!(t.place(0x7f00_0002_0010).to_string(), "libc.so.6+0x20010");
        assert!(t.place(0x1234).module.is_none());
        assert!(t.in_shared(0x7f00_0002_0010));
        assert!(!t.in_shared(0x5555_0000_1110));
        assert!(!t.in_shared(0x1234));
    }

    #[test]
    fn ranges_are_half_open() {
        let t = sample();
        assert!(t.find(0x5555_0000_9000).is_none());
        assert!(t.find(0x5555_0000_8fff).is_some());
        assert_eq!(
            t.data_range(0x5555_0000_0010),
            Some((0x5555_0000_0000, 0x5555_0000_a000))
        );
        assert!(t.has_function("rogue"));
        assert!(!t.has_function("nope"));
    }

    #[test]
    fn shared_libraries_are_recognised_by_name() {
        for n in ["libc.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0"] {
            assert!(is_shared_routine_library(n), "{n}");
        }
        for n in ["iwasm", "libnode.so.109", "libcrypto.so.3", "libjvm.so"] {
            assert!(!is_shared_routine_library(n), "{n}");
        }
    }
}
