//! Start-up's look at the memory mapped before the hooks were on: asked
//! of the kernel with `PROCMAP_QUERY` (`jg::procmap`), a few ioctls on
//! `/proc/self/maps`, instead of generating and parsing the whole text
//! map (about half the cost, and no allocation per line). Kernels
//! without it (before 6.11) get the text map, as before.

use jg::maps::Mapping;
use jg::procmap::{self as q, ProcmapQuery, Question};
use std::os::fd::AsRawFd;

/// The W+X mappings, the shared file-backed mappings and the mapping of
/// the stack pointer `sp`, in no particular order; or every mapping,
/// from the text map. Both serve the same filters.
pub fn startup_mappings(sp: u64) -> Vec<Mapping> {
    let Ok(file) = std::fs::File::open("/proc/self/maps") else {
        return Vec::new();
    };
    if let Some(found) = ask(file.as_raw_fd(), sp) {
        return found;
    }
    std::io::read_to_string(file)
        .map(|t| jg::maps::parse_maps(&t))
        .unwrap_or_default()
}

/// None when the kernel does not answer (no PROCMAP_QUERY, or a name
/// longer than the buffer): the caller reads the text instead.
fn ask(fd: i32, sp: u64) -> Option<Vec<Mapping>> {
    let mut name = vec![0u8; 4096];
    let mut out = Vec::new();
    for question in q::startup_questions(sp) {
        let mut addr = 0;
        let mut ended = false;
        // A walk ends at ENOENT; a map never has more mappings than
        // vm.max_map_count, so the bound only stops a kernel that
        // misanswers (and then the text map is read).
        for _ in 0..1 << 20 {
            let mut req =
                ProcmapQuery::request(question, addr, name.as_mut_ptr() as u64, name.len() as u32);
            // SAFETY: PROCMAP_QUERY reads and writes `req` (a
            // `struct procmap_query` whose size field says so) and writes
            // at most `vma_name_size` bytes into `name`; both live across
            // the call.
            let r = unsafe {
                crate::sys::syscall!(libc::SYS_ioctl, fd, q::PROCMAP_QUERY, &raw mut req)
            };
            if r < 0 {
                match crate::sys::errno() {
                    libc::ENOENT => {
                        ended = true;
                        break;
                    }
                    _ => return None,
                }
            }
            q::add_unique(&mut out, req.mapping(&name));
            match question {
                Question::Covering(_) => {
                    ended = true;
                    break;
                }
                Question::EveryWith(_) if req.vma_end > addr => addr = req.vma_end,
                Question::EveryWith(_) => return None,
            }
        }
        if !ended {
            return None;
        }
    }
    Some(out)
}
