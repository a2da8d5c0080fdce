//! The loaded ELF objects, from `dl_iterate_phdr`, with symbols and build
//! ids read from their files (outside any handler).

use jg::modules::Module;
use libc::{c_int, c_void};
use std::ffi::CStr;
use std::sync::Arc;

/// The loaded ELF objects, reusing already-parsed ones.
pub fn loaded_modules(known: &[Arc<Module>]) -> Vec<Arc<Module>> {
    struct Acc<'a> {
        known: &'a [Arc<Module>],
        out: Vec<Arc<Module>>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info for this call and our
        // own `Acc` as data.
        let (info, acc) = unsafe { (&*info, &mut *data.cast::<Acc<'_>>()) };
        let name = loader_name(info);
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
        };
        let bias = info.dlpi_addr;
        let segs: Vec<jg::elf::Segment> = phdrs
            .iter()
            .map(|p| jg::elf::Segment {
                kind: p.p_type,
                flags: p.p_flags,
                offset: p.p_offset,
                vaddr: p.p_vaddr,
                filesz: p.p_filesz,
                memsz: p.p_memsz,
            })
            .collect();
        let m = match acc
            .known
            .iter()
            .find(|m| m.bias == bias && m.path == name_or_exe(&name))
        {
            Some(m) => m.clone(),
            None => Arc::new(Module {
                // The modules loaded when jitguard started (the program and
                // its dependencies) stay loaded for good; later ones may go
                // behind jitguard's back (glibc's own dlclose of gconv
                // modules) and are checked before each read.
                permanent: loaded_at_start(bias, &name),
                ..describe(&name, bias, &segs)
            }),
        };
        acc.out.push(m);
        0
    }
    let mut acc = Acc {
        known,
        out: Vec::new(),
    };
    // SAFETY: the callback matches dl_iterate_phdr's contract and only
    // touches `acc` for the duration of the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut acc).cast()) };
    acc.out
}

/// A loader entry's name (empty for the main program).
fn loader_name(info: &libc::dl_phdr_info) -> String {
    if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the loader, valid
        // during the dl_iterate_phdr callback that passed `info`.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    }
}

/// The modules there at start-up, by load bias and name.
/// Frozen after start-up (with its contents in the vault's arena): which
/// modules stay trusted for the whole run.
#[link_section = "jitguard_frozen"]
static AT_START: crate::vault::OwnState<once_cell::sync::OnceCell<Vec<(u64, String)>>> =
    crate::vault::OwnState(once_cell::sync::OnceCell::new());

/// Records which modules are loaded now (at start-up: names and biases
/// only, no file is read).
pub fn record_startup_modules() {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our own Vec.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<(u64, String)>>()) };
        let name = loader_name(info);
        out.push((info.dlpi_addr, name));
        0
    }
    let mut out: Vec<(u64, String)> = Vec::new();
    // SAFETY: the callback matches dl_iterate_phdr's contract and only
    // touches `out` during the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut out).cast()) };
    let _ = AT_START.set(out);
}

fn loaded_at_start(bias: u64, name: &str) -> bool {
    AT_START
        .get()
        .is_some_and(|v| v.iter().any(|(b, n)| *b == bias && n == name))
}

fn name_or_exe(name: &str) -> String {
    if name.is_empty() {
        std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        name.to_string()
    }
}

/// A module from its program headers, with symbols from its file.
fn describe(name: &str, bias: u64, segs: &[jg::elf::Segment]) -> Module {
    let path = name_or_exe(name);
    let mut m = Module {
        name: path.rsplit('/').next().unwrap_or(&path).to_string(),
        path: path.clone(),
        bias,
        ..Module::default()
    };
    for s in segs {
        let lo = bias.wrapping_add(s.vaddr);
        match s.kind {
            jg::elf::PT_LOAD => {
                if s.flags & jg::elf::PF_X != 0 {
                    m.exec.push((lo, lo + s.memsz));
                }
                if s.flags & jg::elf::PF_R != 0 && s.filesz > 0 {
                    m.data.push((lo, lo + s.filesz));
                }
            }
            jg::elf::PT_GNU_EH_FRAME => m.eh_frame_hdr = Some(lo),
            _ => {}
        }
    }
    if let Ok(f) = std::fs::File::open(&path) {
        if let Some(info) = jg::elf::parse(&FileReader(f)) {
            m.symbols = info.symbols;
            m.build_id = info.build_id;
        }
    }
    m
}

struct FileReader(std::fs::File);

impl jg::elf::ReadAt for FileReader {
    fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut v = vec![0; len];
        self.0.read_exact_at(&mut v, off).ok()?;
        Some(v)
    }
}
