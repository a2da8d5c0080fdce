//! The kernel's `PROCMAP_QUERY` (Linux 6.11): an ioctl on an open
//! `/proc/PID/maps` that answers one question about one mapping, with no
//! text to generate or parse. Start-up asks it the three things it needs
//! to know about the memory mapped before jitguard's hooks were on (the
//! W+X mappings, the shared file views, the main thread's stack) instead
//! of reading the whole map. Pure: the layout, the questions and the
//! decoding; `hooks` makes the call.

use crate::maps::Mapping;

/// `struct procmap_query` (include/uapi/linux/fs.h), 104 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcmapQuery {
    pub size: u64,
    pub query_flags: u64,
    pub query_addr: u64,
    pub vma_start: u64,
    pub vma_end: u64,
    pub vma_flags: u64,
    pub vma_page_size: u64,
    pub vma_offset: u64,
    pub inode: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub vma_name_size: u32,
    pub build_id_size: u32,
    pub vma_name_addr: u64,
    pub build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
pub const PROCMAP_QUERY: u64 =
    (3 << 30) | ((core::mem::size_of::<ProcmapQuery>() as u64) << 16) | ((b'f' as u64) << 8) | 17;

pub const VMA_READABLE: u64 = 0x01;
pub const VMA_WRITABLE: u64 = 0x02;
pub const VMA_EXECUTABLE: u64 = 0x04;
pub const VMA_SHARED: u64 = 0x08;
pub const COVERING_OR_NEXT_VMA: u64 = 0x10;
pub const FILE_BACKED_VMA: u64 = 0x20;

/// One question: every mapping with all of `flags` (walked from address
/// 0, each answer's end the next question's start), or the one mapping
/// that covers an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    EveryWith(u64),
    Covering(u64),
}

/// What start-up asks: the W+X mappings (to guard), the shared
/// file-backed mappings (views that may alias code later), and the
/// mapping of the stack pointer `sp` (the main thread's stack bounds).
pub fn startup_questions(sp: u64) -> [Question; 3] {
    [
        Question::EveryWith(VMA_WRITABLE | VMA_EXECUTABLE),
        Question::EveryWith(VMA_SHARED | FILE_BACKED_VMA),
        Question::Covering(sp),
    ]
}

impl ProcmapQuery {
    /// The request for `q` at `addr` (`EveryWith`'s walk position), naming
    /// the mapping into a buffer at `name_addr` of `name_len` bytes.
    pub fn request(q: Question, addr: u64, name_addr: u64, name_len: u32) -> ProcmapQuery {
        let (flags, at) = match q {
            Question::EveryWith(f) => (f | COVERING_OR_NEXT_VMA, addr),
            Question::Covering(a) => (0, a),
        };
        ProcmapQuery {
            size: core::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: flags,
            query_addr: at,
            vma_name_addr: name_addr,
            vma_name_size: name_len,
            ..ProcmapQuery::default()
        }
    }

    /// The answer as a line of the text map would have said it; `name` is
    /// the buffer the kernel filled (its `vma_name_size` bytes include the
    /// terminating NUL).
    pub fn mapping(&self, name: &[u8]) -> Mapping {
        let len = (self.vma_name_size as usize).min(name.len());
        let name = &name[..len];
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        Mapping {
            start: self.vma_start,
            end: self.vma_end,
            read: self.vma_flags & VMA_READABLE != 0,
            write: self.vma_flags & VMA_WRITABLE != 0,
            exec: self.vma_flags & VMA_EXECUTABLE != 0,
            private: self.vma_flags & VMA_SHARED == 0,
            path: String::from_utf8_lossy(name).into_owned(),
            offset: self.vma_offset,
            dev: (u64::from(self.dev_major), u64::from(self.dev_minor)),
            inode: self.inode,
            protection_key: None,
        }
    }
}

/// Adds `m` to `out` unless a mapping with the same start is there (the
/// questions overlap: a shared W+X file view answers two).
pub fn add_unique(out: &mut Vec<Mapping>, m: Mapping) {
    if !out.iter().any(|o| o.start == m.start) {
        out.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_request_number_are_the_kernels() {
        assert_eq!(core::mem::size_of::<ProcmapQuery>(), 104);
        assert_eq!(PROCMAP_QUERY, 0xC068_6611);
    }

    #[test]
    fn a_walk_asks_for_the_next_mapping_with_the_flags() {
        let q = ProcmapQuery::request(
            Question::EveryWith(VMA_WRITABLE | VMA_EXECUTABLE),
            0x7000,
            0x1234,
            256,
        );
        assert_eq!(q.size, 104);
        assert_eq!(
            q.query_flags,
            VMA_WRITABLE | VMA_EXECUTABLE | COVERING_OR_NEXT_VMA
        );
        assert_eq!(
            (q.query_addr, q.vma_name_addr, q.vma_name_size),
            (0x7000, 0x1234, 256)
        );
        let c = ProcmapQuery::request(Question::Covering(0x7ffd_0000), 0, 0, 0);
        assert_eq!((c.query_flags, c.query_addr), (0, 0x7ffd_0000));
    }

    #[test]
    fn an_answer_reads_as_the_text_map_line_would() {
        let mut name = *b"/memfd:vmem (deleted)\0garbage";
        let q = ProcmapQuery {
            vma_start: 0x1000,
            vma_end: 0x3000,
            vma_flags: VMA_READABLE | VMA_WRITABLE | VMA_SHARED,
            vma_offset: 0x2000,
            inode: 42,
            dev_major: 0,
            dev_minor: 1,
            vma_name_size: 22,
            ..ProcmapQuery::default()
        };
        let m = q.mapping(&name);
        assert_eq!(
            (m.start, m.end, m.offset, m.inode, m.dev),
            (0x1000, 0x3000, 0x2000, 42, (0, 1))
        );
        assert!(m.read && m.write && !m.exec && !m.private);
        assert_eq!(m.path, "/memfd:vmem (deleted)");
        // No name (anonymous memory): an empty path.
        name[0] = 0;
        let anon = ProcmapQuery {
            vma_flags: VMA_READABLE | VMA_WRITABLE | VMA_EXECUTABLE,
            ..ProcmapQuery::default()
        };
        let m = anon.mapping(&name);
        assert!(m.is_rwx() && m.private && m.path.is_empty());
    }

    #[test]
    fn overlapping_answers_are_kept_once() {
        let mut out = Vec::new();
        let m = ProcmapQuery::default().mapping(&[]);
        add_unique(&mut out, m.clone());
        add_unique(&mut out, m);
        assert_eq!(out.len(), 1);
    }
}
