//! Parsers for `/proc/PID/maps` and `/proc/PID/smaps`.
//!
//! The library reads its own maps at start to guard RWX mappings made before
//! it was initialised; the tests read smaps to prove pages are really keyed
//! (`ProtectionKey:` lines are the kernel's word, not ours).

/// One mapping line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// Private (copy-on-write) rather than shared.
    pub private: bool,
    pub path: String,
    /// The file offset of `start`, and the file's device (major, minor)
    /// and inode (0 for anonymous memory).
    pub offset: u64,
    pub dev: (u64, u64),
    pub inode: u64,
    /// From smaps only: the mapping's protection key.
    pub protection_key: Option<u32>,
}

impl Mapping {
    pub fn is_rwx(&self) -> bool {
        self.write && self.exec
    }

    pub fn pages(&self) -> u64 {
        (self.end - self.start) / crate::PAGE_SIZE
    }
}

/// Parses a maps header line: `start-end perms offset dev inode [path]`.
fn parse_header(line: &str) -> Option<Mapping> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?.as_bytes();
    let (s, e) = range.split_once('-')?;
    let start = u64::from_str_radix(s, 16).ok()?;
    let end = u64::from_str_radix(e, 16).ok()?;
    if perms.len() < 4 {
        return None;
    }
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let (maj, min) = fields.next()?.split_once(':')?;
    let dev = (
        u64::from_str_radix(maj, 16).ok()?,
        u64::from_str_radix(min, 16).ok()?,
    );
    let inode = fields.next()?.parse().ok()?;
    let path = fields.collect::<Vec<_>>().join(" ");
    Some(Mapping {
        start,
        end,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        exec: perms[2] == b'x',
        private: perms[3] == b'p',
        path,
        offset,
        dev,
        inode,
        protection_key: None,
    })
}

/// Parses `/proc/PID/maps`.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_header).collect()
}

/// Parses `/proc/PID/smaps`, keeping each mapping's `ProtectionKey`.
pub fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ProtectionKey:") {
            if let (Some(m), Ok(k)) = (out.last_mut(), rest.trim().parse()) {
                m.protection_key = Some(k);
            }
            continue;
        }
        // Header lines start with a hex range; field lines with a name and ':'.
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            if let Some(m) = parse_header(line) {
                out.push(m);
            }
        }
    }
    out
}

/// The key of every page in `[start, end)` according to `mappings`
/// (`None` for pages no mapping covers).
pub fn page_keys(mappings: &[Mapping], start: u64, end: u64) -> Vec<Option<u32>> {
    (start..end)
        .step_by(crate::PAGE_SIZE as usize)
        .map(|a| {
            mappings
                .iter()
                .find(|m| m.start <= a && a < m.end)
                .and_then(|m| m.protection_key)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
7f0000000000-7f0000002000 rwxp 00000000 00:00 0 
Size:                  8 kB
ProtectionKey:         3
7f0000002000-7f0000003000 r-xp 00000000 00:00 0 
Size:                  4 kB
VmFlags: rd ex mr mw me ac 
ProtectionKey:         0
55d0c0a00000-55d0c0a21000 r--p 00000000 fe:01 1234   /usr/bin/my prog
Size:                132 kB
";

    #[test]
    fn smaps_keys_and_paths() {
        let m = parse_smaps(SMAPS);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].protection_key, Some(3));
        assert!(m[0].is_rwx() && m[0].read);
        assert_eq!(m[0].pages(), 2);
        assert_eq!(m[1].protection_key, Some(0));
        assert!(!m[1].is_rwx());
        assert_eq!(m[2].path, "/usr/bin/my prog");
        assert_eq!(m[2].protection_key, None);
        let keys = page_keys(&m, 0x7f0000000000, 0x7f0000004000);
        assert_eq!(keys, vec![Some(3), Some(3), Some(0), None]);
    }

    #[test]
    fn maps_lines() {
        let m = parse_maps("00400000-00401000 r-xp 00000000 08:01 42 /bin/x\nbogus\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].start, 0x400000);
        assert!(m[0].exec && !m[0].write && m[0].private);
        assert_eq!((m[0].offset, m[0].dev, m[0].inode), (0, (8, 1), 42));
    }
}
