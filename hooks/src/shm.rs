//! SysV shared memory and the personality, for the alias guard: `shmat`
//! with SHM_EXEC maps a segment executable (and writable, unless
//! SHM_RDONLY), and every attach of a segment is a view of it, so a
//! writable attach of a segment attached executable elsewhere is a
//! writable alias of code. `personality(READ_IMPLIES_EXEC)` makes every
//! readable mapping executable from then on.

use crate::aliases;
use crate::mapping::{is_wx, mprotect_guarded};
use crate::persona::{effective, note_personality};
use crate::regions::page_span;
use crate::state::ready;
use crate::sys::{self, SysResult};
use jg::aliases::{Object, Pending, View};
use libc::{c_int, c_void};

fn check(r: libc::c_long) -> SysResult {
    if r == -1 {
        Err(sys::errno())
    } else {
        Ok(r)
    }
}

fn raw_shmat(id: c_int, addr: *const c_void, flags: c_int) -> SysResult {
    // SAFETY: the program's own attach request; the kernel validates it.
    check(unsafe { crate::sys::syscall!(libc::SYS_shmat, id, addr, flags) })
}

fn raw_shmdt(addr: *const c_void) -> SysResult {
    // SAFETY: the program's own detach request; the kernel validates it.
    check(unsafe { crate::sys::syscall!(libc::SYS_shmdt, addr) })
}

/// The segment's size, rounded to pages (None if it cannot be read).
fn segment_len(id: c_int) -> Option<u64> {
    // SAFETY: all-zero is a valid shmid_ds; IPC_STAT fills it or fails.
    let mut ds: libc::shmid_ds = unsafe { core::mem::zeroed() };
    // SAFETY: `ds` is a valid, writable shmid_ds.
    let r = unsafe { crate::sys::syscall!(libc::SYS_shmctl, id, libc::IPC_STAT, &raw mut ds) };
    (r == 0).then(|| jg::page_ceil(ds.shm_segsz as u64))
}

pub fn shmat(id: c_int, addr: *const c_void, flags: c_int) -> *mut c_void {
    let failed = |e| {
        sys::set_errno(e);
        -1isize as *mut c_void
    };
    let len = if ready() { segment_len(id) } else { None };
    let Some(len) = len else {
        return raw_shmat(id, addr, flags).map_or_else(failed, |p| p as *mut c_void);
    };
    let mut prot = libc::PROT_READ;
    if flags & libc::SHM_RDONLY == 0 {
        prot |= libc::PROT_WRITE;
    }
    if flags & libc::SHM_EXEC != 0 {
        prot |= libc::PROT_EXEC;
    }
    let eff = effective(prot);
    let pending = Pending {
        object: Object::Sysv(id),
        offset: 0,
        len,
        prot: eff,
    };
    let r = aliases::sysv(Some(pending), |t, map| {
        let base = raw_shmat(id, addr, flags)? as u64;
        let (s, e) = (base, base + len);
        map.remove(s, e);
        t.remove(s, e);
        t.insert(View {
            start: s,
            end: e,
            object: Object::Sysv(id),
            offset: 0,
            prot: eff,
            shared: true,
        });
        Ok(base)
    });
    match r {
        Ok(base) => {
            if is_wx(eff) {
                // An executable, writable attach: W+X memory like any other
                // (the kernel maps it so; it is sealed before shmat returns).
                if let Err(e) = mprotect_guarded(base, len, prot, eff) {
                    crate::log!(Warn, "could not guard shmat {base:#x} (errno {e})");
                }
            }
            base as *mut c_void
        }
        Err(e) => failed(e),
    }
}

pub fn shmdt(addr: *const c_void) -> c_int {
    let a = addr as u64;
    if !ready() || !aliases::tracks(a, a + 1) {
        return crate::mapping::ret_int(raw_shmdt(addr));
    }
    crate::mapping::ret_int(aliases::sysv(None, |t, map| {
        // The attach at `addr`: the contiguous views of its segment from
        // there on (an mprotect may have split it).
        let views = t.views_in(a, u64::MAX);
        let first = views.first().map(|v| v.object);
        let mut end = a;
        for v in &views {
            let same = Some(v.object) == first && matches!(v.object, Object::Sysv(_));
            if v.start != end || !same {
                break;
            }
            end = v.end;
        }
        if end == a {
            end = a + jg::PAGE_SIZE;
        }
        let (s, e) = page_span(a, end - a);
        // Attestation records first (they wait for a check reading the
        // pages), as munmap does.
        crate::attest::forget(s, e);
        raw_shmdt(addr)?;
        map.remove(s, e);
        t.remove(s, e);
        Ok(0)
    }))
}

pub fn personality(persona: libc::c_ulong) -> c_int {
    // SAFETY: the program's own call; the kernel validates the persona.
    let r = unsafe { crate::sys::syscall!(libc::SYS_personality, persona) };
    if r != -1 && ready() {
        note_personality(persona as u32);
    }
    r as c_int
}
