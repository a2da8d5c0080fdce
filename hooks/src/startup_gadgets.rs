//! At start-up (outside any handler), the WRPKRU and XRSTOR/XRSTORS
//! memory-form sequences already in the loaded modules' executable
//! segments (glibc's `pkey_set` has a WRPKRU, and so has jitguard itself):
//! the gadgets an attacker finds without writing any code. Counted for the
//! stats file and `jitguard check`; WRPKRU sites are listed by module and
//! offset. Scanned in memory, as loaded.

use jg::gadgets::{Counts, Kind};
use libc::{c_int, c_void};
use once_cell::sync::OnceCell;

struct Found {
    counts: Counts,
    listing: String,
}

static FOUND: OnceCell<Found> = OnceCell::new();

pub fn counts() -> Counts {
    FOUND.get().map_or_else(Counts::default, |f| f.counts)
}

pub fn listing() -> String {
    FOUND.get().map_or_else(String::new, |f| f.listing.clone())
}

/// Scans the modules loaded now.
pub fn scan() {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our own Found.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Found>()) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
        let phdrs =
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: the loader's NUL-terminated name, valid during the call.
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let short = match name.rsplit('/').next() {
            Some("") | None => "(program)".to_string(),
            Some(s) => s.to_string(),
        };
        for p in phdrs {
            if p.p_type != jg::elf::PT_LOAD || p.p_flags & jg::elf::PF_X == 0 || p.p_filesz == 0 {
                continue;
            }
            let lo = info.dlpi_addr.wrapping_add(p.p_vaddr);
            // SAFETY: a loaded executable segment: mapped and readable
            // (PF_X segments are mapped r-x) for the module's lifetime, and
            // the loader's lock held by dl_iterate_phdr keeps it loaded.
            let bytes =
                unsafe { core::slice::from_raw_parts(lo as *const u8, p.p_filesz as usize) };
            jg::gadgets::scan(&[], bytes, &[], |g| {
                out.counts.add(g.kind);
                if g.kind == Kind::Wrpkru {
                    let off = p.p_vaddr.wrapping_add_signed(g.offset as i64);
                    if !out.listing.is_empty() {
                        out.listing.push_str("; ");
                    }
                    out.listing.push_str(&format!("{short}+{off:#x} WRPKRU"));
                }
            });
        }
        0
    }
    let mut found = Found {
        counts: Counts::default(),
        listing: String::new(),
    };
    // SAFETY: the callback matches dl_iterate_phdr's contract and only
    // touches `found` during the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut found).cast()) };
    crate::log!(
        Info,
        "gadgets in the loaded modules: {} WRPKRU ({}), {} XRSTOR/XRSTORS memory forms",
        found.counts.wrpkru,
        found.listing,
        found.counts.xrstor
    );
    let _ = FOUND.set(found);
}
