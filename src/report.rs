//! Report formats that must work inside a signal handler: text is written
//! into a fixed stack buffer (no allocation), then handed to `write(2)`.

use core::fmt;

/// A fixed-capacity text buffer; writes past the end are cut, not failed,
/// so a long report is truncated rather than lost.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn formats_and_truncates() {
        let mut b = StackBuf::<16>::new();
        write!(b, "fault at {:#x}", 0x1234u64).unwrap();
        assert_eq!(b.as_bytes(), b"fault at 0x1234");
        write!(b, " and more").unwrap();
        assert_eq!(b.as_bytes().len(), 16);
        b.clear();
        assert!(b.as_bytes().is_empty());
    }
}
