//! Writable aliases of code, kept by the mapping calls: every view of a
//! shared object (and every executable file view) is recorded in the
//! alias table (`jg::aliases`), and a writing view whose bytes are
//! executable in another view is guarded like W+X memory: keys or no
//! write, trusted writers, call windows.
//!
//! Order of the locks: the alias table's, then the region lock (`edit`),
//! then the vault's. The table and its published spans live in the vault
//! (they decide what is guarded): the table is changed only inside a
//! region edit (which is a vault update), and read under its lock. The
//! writer view is built before the table is locked. No lock is taken by
//! the mapping calls malloc makes (anonymous, never tracked).

use crate::mapping::{is_wx, mmap_guarded, mprotect_guarded};
use crate::published::{Published, Readers};
use crate::regions::{edit, page_span};
use crate::state::protection;
use crate::sys::{self, SysResult};
use crate::vault::{OwnState, VaultCell};
use crate::writers;
use jg::aliases::{makedev, AliasTable, Object, Pending, Sync, View};
use jg::regions::RegionMap;
use libc::{c_int, c_void, off_t, size_t};
use parking_lot::{Mutex, MutexGuard};

/// The lock of the table: in ordinary memory (taking it writes it).
static LOCK: Mutex<()> = Mutex::new(());

#[link_section = "jitguard_vault"]
static TABLE: OwnState<VaultCell<AliasTable>> = OwnState(VaultCell::new(AliasTable::new()));

/// The address ranges of every tracked view, for the lock-free check.
static SPANS_READERS: Readers = Readers::new();
#[link_section = "jitguard_vault"]
static SPANS: OwnState<Published<Spans>> = OwnState(Published::new(&SPANS_READERS));

type Spans = Box<[(u64, u64)]>;

/// The table, to read (under `LOCK`).
fn table() -> &'static AliasTable {
    TABLE.get()
}

/// Runs `f` on the table and the region map, inside a region edit (a
/// vault update). The caller holds `LOCK`.
fn change<R>(
    _lock: &MutexGuard<'static, ()>,
    f: impl FnOnce(&mut AliasTable, &mut RegionMap) -> R,
) -> R {
    edit(|map| {
        // SAFETY: under LOCK (the caller's guard) and inside the update
        // `edit` runs; no reference from `table()` lives across this.
        let t = unsafe { TABLE.get_mut() };
        f(t, map)
    })
}

/// Whether any tracked view overlaps `[s, e)` (lock-free).
pub fn tracks(s: u64, e: u64) -> bool {
    let Some(spans) = SPANS.read() else {
        return false;
    };
    let i = spans.partition_point(|&(_, end)| end <= s);
    spans.get(i).is_some_and(|&(start, _)| start < e)
}

fn shared(flags: c_int) -> bool {
    matches!(flags & 3, libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE)
}

/// Whether an mmap must go through the alias table: a shared or
/// executable mapping of an object, or a fixed mapping over a view.
pub fn wants_mmap(addr: u64, len: u64, eff: c_int, flags: c_int, fd: c_int) -> bool {
    let object = fd >= 0 && flags & libc::MAP_ANONYMOUS == 0;
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    (object && (shared(flags) || eff & libc::PROT_EXEC != 0))
        || (fixed && tracks(addr, addr.saturating_add(len)))
}

/// The object behind `fd`.
fn object_of(fd: c_int) -> Option<Object> {
    // SAFETY: all-zero is a valid `stat`; fstat fills it or fails.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    let r = unsafe { crate::sys::syscall!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) };
    (r == 0).then_some(Object::File {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// The table, locked, with the writer view built first if `needs_view`
/// says the change will guard something (building it reads symbol tables:
/// done once, and only by processes that have code aliases).
pub fn lock_for(needs_view: impl Fn(&AliasTable) -> bool) -> MutexGuard<'static, ()> {
    let l = LOCK.lock();
    if writers::view().is_some() || !needs_view(table()) {
        return l;
    }
    drop(l);
    writers::ensure_view();
    LOCK.lock()
}

/// Whether syncing `t` (with `extra` about to exist) would guard anything,
/// `extra` itself included.
pub fn would_guard(t: &AliasTable, extra: Option<Pending>) -> bool {
    extra.is_some_and(|p| t.would_alias(p)) || !t.clone().sync(extra).guard.is_empty()
}

fn publish(t: &AliasTable) {
    SPANS.publish(t.spans().into_boxed_slice());
}

/// Carries out a sync in the region map: released pieces go back to
/// their views' protection (a piece whose view is W+X stays with the W+X
/// guard; one with no view left is only forgotten), new pieces are
/// guarded.
pub fn apply(t: &AliasTable, s: &Sync, map: &mut RegionMap) {
    let p = protection();
    // The call that made the alias (walked out of the running hook)
    // chooses the profile that judges it, as for W+X memory.
    let creator = if s.guard.is_empty() {
        0
    } else {
        writers::view().map_or(0, |v| writers::creator(&v).at())
    };
    for r in &s.release {
        // No longer code: its pages may change freely from now on.
        crate::attest::forget(r.start, r.end);
        let mut at = r.start;
        for v in t.views_in(r.start, r.end) {
            if v.start > at {
                map.remove(at, v.start);
            }
            at = v.end;
            if !is_wx(v.prot) {
                let _ = p.unguard(map, v.start, v.end, v.prot, 0);
            }
        }
        if at < r.end {
            map.remove(at, r.end);
        }
    }
    for r in &s.guard {
        let guarded = p.guard(map, r.start, r.end, r.prot);
        if guarded.is_ok() {
            map.set_creator(r.start, r.end, creator);
        }
        match guarded {
            Ok(1) => {
                crate::log!(
                    Info,
                    "guarding {:#x}-{:#x}: a writable alias of code",
                    r.start,
                    r.end
                );
                writers::notice_if_unauthenticated(creator);
            }
            Ok(_) => {}
            Err(e) => crate::log!(
                Warn,
                "could not guard the writable alias {:#x}-{:#x} (errno {e})",
                r.start,
                r.end
            ),
        }
    }
}

/// Syncs `t` and applies the result; `force` pieces are guarded again
/// even if the table had them (their protection was just reset).
fn settle(t: &mut AliasTable, map: &mut RegionMap, force: Option<(u64, u64)>) {
    let mut s = t.sync(None);
    if let Some((a, b)) = force {
        s.guard.extend(t.guarded().overlapping(a, b));
    }
    apply(t, &s, map);
    publish(t);
}

/// mmap of an object, or over a view.
pub fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    eff: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> SysResult {
    let object = (fd >= 0 && flags & libc::MAP_ANONYMOUS == 0)
        .then(|| object_of(fd))
        .flatten();
    let pending = object.map(|object| Pending {
        object,
        offset: off as u64,
        len: jg::page_ceil(len as u64),
        prot: eff,
    });
    let l = lock_for(|t| would_guard(t, pending));
    // The writing views this one will alias are guarded before it exists;
    // a writing view that will alias code is mapped without write, so it
    // is never writable under key 0.
    let drop_write = pending.is_some_and(|p| shared(flags) && table().would_alias(p));
    if would_guard(table(), pending) {
        change(&l, |t, map| {
            let pre = t.sync(pending);
            apply(t, &pre, map);
        });
    }
    let (p1, e1) = if drop_write {
        (prot & !libc::PROT_WRITE, eff & !libc::PROT_WRITE)
    } else {
        (prot, eff)
    };
    let r = mmap_guarded(addr, len, p1, e1, flags, fd, off);
    change(&l, |t, map| {
        if let Ok(base) = r {
            let (s, e) = page_span(base as u64, len as u64);
            t.remove(s, e);
            if let Some(object) = object {
                t.insert(View {
                    start: s,
                    end: e,
                    object,
                    offset: off as u64,
                    prot: eff,
                    shared: shared(flags),
                });
            }
            settle(t, map, None);
            if drop_write {
                // Parts the alias guard did not take get the write asked for.
                for (a, b) in t.guarded().uncovered(s, e) {
                    let _ = sys::mprotect(a, b - a, prot);
                }
            }
        } else {
            settle(t, map, None);
        }
    });
    r
}

/// mprotect of memory holding a view. A writing view that stays an alias
/// of code never becomes writable under key 0 on the way.
pub fn mprotect(addr: u64, len: u64, prot: c_int, eff: c_int) -> SysResult {
    let (s, e) = page_span(addr, len);
    let after = |t: &AliasTable| {
        let mut t = t.clone();
        t.set_prot(s, e, eff);
        t.sync(None);
        t
    };
    let l = lock_for(|t| would_guard(&after(t), None));
    if is_wx(eff) {
        let r = mprotect_guarded(addr, len, prot, eff);
        change(&l, |t, map| {
            if r.is_ok() {
                t.set_prot(s, e, eff);
            }
            settle(t, map, None);
        });
        return r;
    }
    let keep = !after(table()).guarded().overlapping(s, e).is_empty();
    let first = if keep { prot & !libc::PROT_WRITE } else { prot };
    change(&l, |t, map| {
        let r = protection()
            .unguard(map, s, e, first, 0)
            .and_then(|_| sys::mprotect(s, e - s, first));
        if r.is_ok() {
            t.set_prot(s, e, eff);
        }
        settle(t, map, Some((s, e)));
        if keep && r.is_ok() {
            for (a, b) in t.guarded().uncovered(s, e) {
                let _ = sys::mprotect(a, b - a, prot);
            }
        }
        r
    })
}

/// pkey_mprotect of memory holding a view: as mprotect, then the
/// program's key on the parts that are not guarded.
pub fn pkey_mprotect(s: u64, e: u64, prot: c_int, pkey: c_int) -> SysResult {
    let eff = crate::persona::effective(prot);
    mprotect(s, e - s, prot, eff)?;
    if pkey == 0 {
        return Ok(0);
    }
    // The guarded pieces (aliases of code, or W+X) keep jitguard's keys.
    let pieces = crate::regions::with_snapshot(|snap| {
        let mut at = s;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        if let Some(snap) = snap {
            for (a, b, _) in snap.pieces(s, e) {
                if a > at {
                    pieces.push((at, a));
                }
                at = b;
            }
        }
        if at < e {
            pieces.push((at, e));
        }
        pieces
    });
    for (a, b) in pieces {
        sys::pkey_mprotect(a, b - a, prot, pkey)?;
    }
    Ok(0)
}

/// munmap of memory holding a view.
pub fn munmap(addr: *mut c_void, len: size_t) -> SysResult {
    let (s, e) = page_span(addr as u64, len as u64);
    let l = LOCK.lock();
    change(&l, |t, map| {
        let r = sys::munmap(addr, len);
        if r.is_ok() {
            map.remove(s, e);
            t.remove(s, e);
        }
        settle(t, map, None);
        r
    })
}

/// mremap of memory holding a view: `inner` moves the memory (and the
/// guarded regions in it); the views follow.
pub fn mremap(
    old: u64,
    old_len: u64,
    new_len: u64,
    inner: impl FnOnce() -> SysResult,
) -> SysResult {
    let l = lock_for(|_| false);
    // Guarded pages with keys of their own (pkey's hashed policy) or
    // opened and resealed are separate kernel mappings, which the kernel
    // will not move as one: put the guarded pieces back under one seal
    // first (their next write keys them again).
    let pieces: Vec<(u64, u64, c_int)> = crate::regions::with_snapshot(|s| {
        s.map_or_else(Vec::new, |s| {
            s.pieces(old, old + jg::page_ceil(old_len)).collect()
        })
    });
    for (a, b, prot) in pieces {
        let _ = protection().seal_piece(a, b - a, prot);
    }
    let r = inner();
    change(&l, |t, map| {
        if let Ok(to) = r {
            t.remap(
                old,
                jg::page_ceil(old_len),
                to as u64,
                jg::page_ceil(new_len),
            );
        }
        settle(t, map, None);
    });
    r
}

/// SysV attach or detach: `attach` maps (and records the view) inside
/// the update; the alias guard follows.
pub fn sysv<R>(
    pending: Option<Pending>,
    attach: impl FnOnce(&mut AliasTable, &mut RegionMap) -> R,
) -> R {
    let l = lock_for(|t| would_guard(t, pending));
    change(&l, |t, map| {
        let pre = t.sync(pending);
        apply(t, &pre, map);
        let r = attach(t, map);
        settle(t, map, None);
        r
    })
}

/// The views that existed before start-up: shared mappings of objects
/// (W+X ones are guarded as such already). Private executable mappings of
/// files made then are the loaded modules' code, which the dynamic loader
/// maps and unmaps with its own system calls, unseen: they are left out,
/// so no stale view outlives a `dlclose`.
pub fn record_existing(maps: &[jg::maps::Mapping]) {
    let views: Vec<View> = maps
        .iter()
        .filter(|m| m.inode != 0 && !m.private)
        .map(|m| View {
            start: m.start,
            end: m.end,
            object: if m.path.starts_with("/SYSV") {
                Object::Sysv(m.inode as i32)
            } else {
                Object::File {
                    dev: makedev(m.dev.0, m.dev.1),
                    ino: m.inode,
                }
            },
            offset: m.offset,
            prot: [
                (m.read, libc::PROT_READ),
                (m.write, libc::PROT_WRITE),
                (m.exec, libc::PROT_EXEC),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |p, (_, bit)| p | bit),
            shared: !m.private,
        })
        .collect();
    if views.is_empty() {
        return;
    }
    let mut candidate = AliasTable::new();
    for v in &views {
        candidate.insert(*v);
    }
    let l = lock_for(|_| would_guard(&candidate, None));
    change(&l, |t, map| {
        for v in candidate.views() {
            t.insert(*v);
        }
        settle(t, map, None);
    });
}

/// Holds the table lock across fork (taken before the region lock).
pub fn lock_for_fork() {
    core::mem::forget(LOCK.lock());
}

/// After fork, in parent and child.
///
/// # Safety
/// Only after `lock_for_fork` on this thread.
pub unsafe fn unlock_after_fork() {
    // SAFETY: the caller's contract: this thread holds the lock.
    unsafe { LOCK.force_unlock() };
}
