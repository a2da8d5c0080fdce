//! The kernel's ways around the seal, judged without a system call: is a
//! file just opened the process's own `mem` file with write access, is a
//! `process_vm_writev` aimed at the process itself, and how the evidence
//! the hooks gather (file system, mode, the fd's link, a read-back of a
//! fresh value) adds up to a verdict.
//!
//! A `mem` file opened for writing writes any page of its process, sealed
//! or not (the kernel writes with FOLL_FORCE, ignoring page permissions
//! and protection keys). It is judged by the file that was opened, never by
//! the spelling of the path: `/proc/self/mem`, `/proc/PID/mem`,
//! `/proc/thread-self/mem`, `/proc/self/task/TID/mem`, a symlink, a
//! relative path from a `/proc` directory fd and `/proc/self/fd/N` all
//! open the same kind of file, which the kernel names `<proc>/PID/mem` or
//! `<proc>/PID/task/TID/mem` in `/proc/self/fd/N`.

/// procfs's `statfs` magic (`PROC_SUPER_MAGIC`).
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The permission bits the kernel gives every `mem` file (`S_IRUSR |
/// S_IWUSR`).
const MEM_MODE: u32 = 0o600;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const O_ACCMODE: i32 = 3;
const O_RDONLY: i32 = 0;
const O_PATH: i32 = 0o10000000;

/// Whether file status flags (`fcntl(F_GETFL)`, or `open`'s flags) give
/// write access: O_WRONLY, O_RDWR, or the access mode 3 Linux treats as
/// both. An O_PATH descriptor reads and writes nothing.
pub fn opens_for_write(flags: i32) -> bool {
    flags & O_PATH == 0 && flags & O_ACCMODE != O_RDONLY
}

/// Whether a descriptor's `fstatfs`/`fstat` fit a `mem` file at all:
/// procfs, a regular file with mode 0600. Everything else (ordinary files,
/// the program's sockets, other procfs files) is let through at once.
pub fn may_be_mem_file(fs_magic: i64, st_mode: u32) -> bool {
    fs_magic == PROC_SUPER_MAGIC && st_mode & S_IFMT == S_IFREG && st_mode & 0o777 == MEM_MODE
}

/// The task a `mem` file's link names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemLink {
    /// The number after the procfs mount point: a process (or thread) id
    /// in the pid namespace of that procfs mount.
    pub pid: u32,
    /// `PID/task/TID/mem`: the thread.
    pub tid: Option<u32>,
}

/// Parses what `/proc/self/fd/N` says of a `mem` file: `PREFIX/PID/mem`
/// or `PREFIX/PID/task/TID/mem`, PREFIX being wherever procfs is mounted
/// (`/proc` usually). None for any other name.
pub fn parse_mem_link(link: &str) -> Option<MemLink> {
    let mut parts = link.rsplit('/');
    if parts.next()? != "mem" {
        return None;
    }
    let n1 = number(parts.next()?)?;
    let after = parts.next();
    match after {
        Some("task") => {
            let pid = number(parts.next()?)?;
            Some(MemLink { pid, tid: Some(n1) })
        }
        _ => Some(MemLink { pid: n1, tid: None }),
    }
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// What the hooks could learn of a descriptor that may be a `mem` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The descriptor's link, when `/proc/self/fd/N` could be read: Some
    /// (parsed) or None (not a `mem` name); outer None: unreadable.
    pub link: Option<Option<MemLink>>,
    /// A fresh value in this process's memory, read back through the file:
    /// Some(true) it matched (the file reads this very address space),
    /// Some(false) it did not, None the read-back could not be done.
    pub read_back: Option<bool>,
    /// The link's task is this process or one of its threads (by number,
    /// in the pid namespace of the process's own /proc).
    pub link_is_own: bool,
}

/// Whether the descriptor is this process's own `mem` file (an address
/// space shared with it). The read-back is the strongest evidence: it
/// holds across pid namespaces and for a `CLONE_VM` child; the link's
/// number is used only when no read-back could be made; and a descriptor
/// that looks like a `mem` file but cannot be identified at all (no
/// /proc/self/fd, no read-back) is taken to be one: refusing a write
/// handle to an unidentifiable procfs 0600 file is the safe side.
pub fn is_own_mem(e: Evidence) -> bool {
    match e.link {
        Some(None) => false,
        _ => match e.read_back {
            Some(own) => own,
            None => e.link.is_none() || e.link_is_own,
        },
    }
}

/// Whether a `process_vm_writev` target is this process: its pid, or any
/// task `shares_memory` says is of this address space (the kernel looks
/// the number up as a task, so a thread id names the same address space).
/// Pid 0 names no process there (the kernel answers ESRCH).
pub fn pid_is_own(target: i32, own_pid: u32, shares_memory: impl FnOnce(u32) -> bool) -> bool {
    if target <= 0 {
        return false;
    }
    target as u32 == own_pid || shares_memory(target as u32)
}

/// Splits `[addr, addr + len)` of a destination buffer into what the
/// overlap test needs: None for an empty buffer (nothing written), else
/// the byte range, clipped at the top of the address space.
pub fn dest_range(addr: u64, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    Some((addr, addr.saturating_add(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_access_by_flags() {
        assert!(!opens_for_write(0));
        assert!(opens_for_write(1));
        assert!(opens_for_write(2));
        assert!(opens_for_write(3));
        assert!(opens_for_write(2 | 0o100 | 0o2000000));
        assert!(
            !opens_for_write(O_PATH | 2),
            "O_PATH ignores the access mode"
        );
        assert!(!opens_for_write(0o2000000 | 0o4000));
    }

    #[test]
    fn only_procfs_regular_0600_files_may_be_mem() {
        assert!(may_be_mem_file(PROC_SUPER_MAGIC, 0o100600));
        assert!(!may_be_mem_file(PROC_SUPER_MAGIC, 0o100644), "e.g. oom_adj");
        assert!(!may_be_mem_file(PROC_SUPER_MAGIC, 0o040500), "a directory");
        assert!(!may_be_mem_file(0xEF53, 0o100600), "an ext4 file");
    }

    #[test]
    fn mem_links_parse_for_every_mount_point() {
        assert_eq!(
            parse_mem_link("/proc/8701/mem"),
            Some(MemLink {
                pid: 8701,
                tid: None
            })
        );
        assert_eq!(
            parse_mem_link("/proc/8701/task/8702/mem"),
            Some(MemLink {
                pid: 8701,
                tid: Some(8702)
            })
        );
        assert_eq!(
            parse_mem_link("/tmp/otherproc/12/mem"),
            Some(MemLink { pid: 12, tid: None })
        );
        for other in [
            "/proc/8701/maps",
            "/proc/8701/mem (deleted)",
            "/home/u/mem",
            "/proc/self/mem",
            "/proc/8701/task/x/mem",
            "mem",
            "",
            "/proc/99999999999/mem",
        ] {
            assert_eq!(parse_mem_link(other), None, "{other}");
        }
    }

    fn ev(link: Option<Option<MemLink>>, read_back: Option<bool>, own: bool) -> Evidence {
        Evidence {
            link,
            read_back,
            link_is_own: own,
        }
    }

    #[test]
    fn the_read_back_decides_over_the_number() {
        let l = Some(Some(MemLink { pid: 5, tid: None }));
        assert!(
            is_own_mem(ev(l, Some(true), false)),
            "another pid namespace"
        );
        assert!(!is_own_mem(ev(l, Some(false), true)), "a fork child's copy");
        assert!(is_own_mem(ev(l, None, true)));
        assert!(!is_own_mem(ev(l, None, false)));
    }

    #[test]
    fn another_name_is_never_mem_and_no_evidence_refuses() {
        assert!(!is_own_mem(ev(Some(None), Some(true), true)));
        assert!(is_own_mem(ev(None, None, false)));
        assert!(!is_own_mem(ev(None, Some(false), false)));
    }

    #[test]
    fn own_pids_and_threads() {
        assert!(pid_is_own(100, 100, |_| false));
        assert!(pid_is_own(101, 100, |t| t == 101));
        assert!(!pid_is_own(102, 100, |t| t == 101));
        assert!(!pid_is_own(0, 100, |_| true), "ESRCH in the kernel");
        assert!(!pid_is_own(-1, 100, |_| true));
    }

    #[test]
    fn destination_ranges() {
        assert_eq!(dest_range(0x1000, 0), None);
        assert_eq!(dest_range(0x1000, 16), Some((0x1000, 0x1010)));
        assert_eq!(dest_range(u64::MAX - 1, 16), Some((u64::MAX - 1, u64::MAX)));
    }
}
