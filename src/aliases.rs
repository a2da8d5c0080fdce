//! Writable aliases of code: the mappings of shared objects (memfds,
//! POSIX shm objects, files, SysV segments) and which of them must be
//! guarded because the bytes they write are executable elsewhere.
//!
//! A JIT that dual-maps its code (Erlang's BEAM maps one memfd `r-xs` to
//! run and `rw-s` to write) never creates a W+X mapping, yet a store
//! through the RW view changes running code. So jitguard records every
//! view of a shared object: the object (device and inode, or SysV id), the
//! object offset where the view starts, and the protection. A *writing*
//! view (MAP_SHARED and writable; a private writable view copies on write
//! and aliases nothing) is guarded wherever its object bytes are
//! executable in some view (shared or private: a private RX view of a
//! file shows the page cache until it is written, and it never is).
//!
//! A view that is itself W+X is left to the ordinary W+X guard; it counts
//! here only as an executable view of its object.

use crate::regions::{Region, RegionMap};
use std::collections::BTreeMap;

const PROT_WRITE: i32 = 2;
const PROT_EXEC: i32 = 4;

/// `personality(2)`'s flag that makes every readable mapping executable.
pub const READ_IMPLIES_EXEC: u32 = 0x0040_0000;

/// The protection the kernel really gives a new mapping or `mprotect`:
/// under READ_IMPLIES_EXEC, readable means executable too.
pub const fn effective_prot(prot: i32, read_implies_exec: bool) -> i32 {
    if read_implies_exec && prot & 1 != 0 {
        prot | PROT_EXEC
    } else {
        prot
    }
}

/// What a view maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    /// A file, memfd or POSIX shm object: `st_dev` and `st_ino`.
    File { dev: u64, ino: u64 },
    /// A SysV shared memory segment by id (its inode lives on the same
    /// internal device as memfds, so it gets its own namespace).
    Sysv(i32),
}

/// glibc's `makedev` encoding, so that a `/proc/self/maps` device
/// (`major:minor`) compares equal to `fstat`'s `st_dev`.
pub const fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// One mapping of an object: `[start, end)` shows the object's bytes
/// from `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub start: u64,
    pub end: u64,
    pub object: Object,
    pub offset: u64,
    /// The protection the program asked for (with exec added where the
    /// kernel adds it: READ_IMPLIES_EXEC).
    pub prot: i32,
    pub shared: bool,
}

impl View {
    fn exec(&self) -> bool {
        self.prot & PROT_EXEC != 0
    }

    /// Whether stores through this view reach the object (and so every
    /// other view of it), without being guarded as W+X already.
    fn writes_alias(&self) -> bool {
        self.shared && self.prot & (PROT_WRITE | PROT_EXEC) == PROT_WRITE
    }

    /// The object offset shown at `addr`.
    fn offset_at(&self, addr: u64) -> u64 {
        self.offset + (addr - self.start)
    }

    /// This view cut to `[s, e)` (inside it).
    fn cut(&self, s: u64, e: u64) -> View {
        View {
            start: s,
            end: e,
            offset: self.offset_at(s),
            ..*self
        }
    }
}

/// A view that is about to be mapped, for guarding its future aliases
/// before it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub object: Object,
    pub offset: u64,
    pub len: u64,
    pub prot: i32,
}

/// Every tracked view, and the parts of writing views jitguard guards for
/// being aliases of code.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    views: BTreeMap<u64, View>,
    guarded: RegionMap,
}

/// What a change asks of the page protections: pieces to guard (with the
/// view's protection) and pieces that no longer alias code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sync {
    pub guard: Vec<Region>,
    pub release: Vec<Region>,
}

impl AliasTable {
    pub const fn new() -> Self {
        AliasTable {
            views: BTreeMap::new(),
            guarded: RegionMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.views.len()
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.views.values()
    }

    /// The parts of writing views guarded as aliases now.
    pub fn guarded(&self) -> &RegionMap {
        &self.guarded
    }

    /// The view holding `addr`.
    pub fn find(&self, addr: u64) -> Option<View> {
        let (_, v) = self.views.range(..=addr).next_back()?;
        (addr < v.end).then_some(*v)
    }

    /// Whether a tracked view overlaps `[s, e)`.
    pub fn overlaps(&self, s: u64, e: u64) -> bool {
        self.views
            .range(..e)
            .next_back()
            .is_some_and(|(_, v)| v.end > s)
    }

    /// The views inside `[s, e)`, cut to it.
    pub fn views_in(&self, s: u64, e: u64) -> Vec<View> {
        let mut out: Vec<View> = self
            .views
            .range(..e)
            .rev()
            .take_while(|(_, v)| v.end > s)
            .map(|(_, v)| v.cut(v.start.max(s), v.end.min(e)))
            .collect();
        out.reverse();
        out
    }

    /// The merged address ranges of every view (for a lock-free check of
    /// whether a call touches one).
    pub fn spans(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for v in self.views.values() {
            match out.last_mut() {
                Some(last) if last.1 == v.start => last.1 = v.end,
                _ => out.push((v.start, v.end)),
            }
        }
        out
    }

    /// Forgets `[s, e)` (munmap), splitting views at its edges.
    pub fn remove(&mut self, s: u64, e: u64) -> Vec<View> {
        let mut removed = Vec::new();
        let keys: Vec<u64> = self
            .views
            .range(..e)
            .rev()
            .take_while(|(_, v)| v.end > s)
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            let v = self.views.remove(&k).expect("key just listed");
            if v.start < s {
                self.views.insert(v.start, v.cut(v.start, s));
            }
            if v.end > e {
                self.views.insert(e, v.cut(e, v.end));
            }
            removed.push(v.cut(v.start.max(s), v.end.min(e)));
        }
        removed.reverse();
        removed
    }

    /// Records a new view, replacing what it overlaps (MAP_FIXED).
    pub fn insert(&mut self, v: View) {
        if v.start >= v.end {
            return;
        }
        self.remove(v.start, v.end);
        self.views.insert(v.start, v);
    }

    /// mprotect of `[s, e)`: the views in it take `prot`.
    pub fn set_prot(&mut self, s: u64, e: u64, prot: i32) {
        for mut v in self.remove(s, e) {
            v.prot = prot;
            self.views.insert(v.start, v);
        }
    }

    /// mremap of `[old, old+old_len)` to `[new, new+new_len)`: views move
    /// with their offsets; a shrink drops the tail; a grow extends the view
    /// that reached the old end (further into its object).
    pub fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) {
        let old_end = old + old_len;
        let moved = self.remove(old, old_end);
        self.remove(new, new + new_len);
        for v in moved {
            let off = v.start - old;
            if off >= new_len {
                continue;
            }
            let mut end = new + (v.end - old).min(new_len);
            if v.end == old_end && new_len > old_len {
                end = new + new_len;
            }
            self.views.insert(
                new + off,
                View {
                    start: new + off,
                    end,
                    ..v
                },
            );
        }
    }

    /// The executable object ranges of `object`, merged.
    fn exec_ranges(&self, object: Object, extra: Option<Pending>) -> Vec<(u64, u64)> {
        let mut r: Vec<(u64, u64)> = self
            .views
            .values()
            .filter(|v| v.object == object && v.exec())
            .map(|v| (v.offset, v.offset + (v.end - v.start)))
            .collect();
        if let Some(p) = extra.filter(|p| p.object == object && p.prot & PROT_EXEC != 0) {
            r.push((p.offset, p.offset + p.len));
        }
        r.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(r.len());
        for (s, e) in r {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }

    /// The pieces of writing views whose bytes are executable in some view
    /// (with `extra` counted as a view already), each with its view's
    /// protection.
    pub fn wanted(&self, extra: Option<Pending>) -> Vec<Region> {
        let mut out = Vec::new();
        for v in self.views.values().filter(|v| v.writes_alias()) {
            for (os, oe) in self.exec_ranges(v.object, extra) {
                let (vs, ve) = (v.offset, v.offset + (v.end - v.start));
                let (s, e) = (os.max(vs), oe.min(ve));
                if s < e {
                    out.push(Region {
                        start: v.start + (s - vs),
                        end: v.start + (e - vs),
                        prot: v.prot,
                        // Set when the piece is guarded (the call that
                        // made the alias).
                        creator: 0,
                    });
                }
            }
        }
        out
    }

    /// Whether a view about to be mapped writable would alias code, so it
    /// is mapped without write and guarded before anyone can store.
    pub fn would_alias(&self, p: Pending) -> bool {
        if p.prot & (PROT_WRITE | PROT_EXEC) != PROT_WRITE {
            return false;
        }
        let (ps, pe) = (p.offset, p.offset + p.len);
        self.exec_ranges(p.object, None)
            .iter()
            .any(|&(s, e)| s < pe && ps < e)
    }

    /// Brings the guarded set to what the views ask for now (`extra`: a
    /// view about to be mapped, counted already), returning what changes.
    pub fn sync(&mut self, extra: Option<Pending>) -> Sync {
        let wanted = self.wanted(extra);
        let mut next = RegionMap::new();
        for r in &wanted {
            next.insert(r.start, r.end, r.prot);
        }
        let mut out = Sync::default();
        for r in next.iter() {
            let had = self.guarded.overlapping(r.start, r.end);
            let same = had.iter().all(|h| h.prot == r.prot)
                && self.guarded.uncovered(r.start, r.end).is_empty();
            if !same {
                out.guard.push(*r);
            }
        }
        for r in self.guarded.iter() {
            for (s, e) in next.uncovered(r.start, r.end) {
                out.release.push(Region {
                    start: s,
                    end: e,
                    prot: r.prot,
                    creator: r.creator,
                });
            }
        }
        self.guarded = next;
        out
    }
}

#[cfg(test)]
#[path = "aliases_tests.rs"]
mod tests;
