//! The unwinder runs inside the fault handler, where allocating could
//! deadlock on the allocator's lock: this walks this test's own live stack
//! with `jitguard::unwind::step`, reading the binary's mapped `.eh_frame`
//! in place, and counts every allocation the thread makes meanwhile.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use jitguard::elf;
use jitguard::unwind::{self, Memory, Regs, RSP};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting what the thread under test asks for.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

/// `f`'s result and how many allocations this thread made in it.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// This process's memory: the test binary's mapped segments read in
/// place (as the hooks read a module's), and this thread's stack.
struct Live {
    /// Readable file-backed [lo, hi) of the binary's segments.
    data: Vec<(u64, u64)>,
    exec: Vec<(u64, u64)>,
    stack: (u64, u64),
}

impl Memory for Live {
    fn data(&self, addr: u64) -> Option<&[u8]> {
        let &(_, hi) = self.data.iter().find(|r| r.0 <= addr && addr < r.1)?;
        // SAFETY: [addr, hi) is inside a loaded, readable segment of this
        // binary, which stays mapped for the life of the process.
        Some(unsafe { std::slice::from_raw_parts(addr as *const u8, (hi - addr) as usize) })
    }

    fn stack_u64(&self, addr: u64) -> Option<u64> {
        let end = addr.checked_add(8)?;
        if addr < self.stack.0 || end > self.stack.1 {
            return None;
        }
        // SAFETY: inside this thread's mapped stack.
        Some(unsafe { (addr as *const u64).read_unaligned() })
    }
}

impl Live {
    fn in_binary(&self, ip: u64) -> bool {
        self.exec.iter().any(|r| r.0 <= ip && ip < r.1)
    }
}

#[no_mangle]
#[inline(never)]
extern "C" fn jitguard_noalloc_marker() {}

/// The mapping of /proc/self/maps that holds `addr`.
fn mapping_of(addr: u64) -> (u64, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find_map(|l| {
            let (lo, hi) = l.split_whitespace().next()?.split_once('-')?;
            let (lo, hi) = (
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
            );
            (lo <= addr && addr < hi).then_some((lo, hi))
        })
        .expect("a mapping holds the address")
}

/// This binary's tables at their run-time addresses, and its symbols.
fn setup() -> (Live, u64, u64, elf::SymbolTable) {
    let bytes = std::fs::read("/proc/self/exe").unwrap();
    let info = elf::parse(&bytes[..]).unwrap();
    let marker = info
        .symbols
        .iter()
        .find(|s| s.2 == "jitguard_noalloc_marker")
        .expect("the marker is in the symbol table")
        .0;
    let bias = (jitguard_noalloc_marker as *const () as usize as u64).wrapping_sub(marker);
    let segs = elf::segments(&bytes[..]).unwrap();
    let hdr = bias.wrapping_add(
        segs.iter()
            .find(|s| s.kind == elf::PT_GNU_EH_FRAME)
            .expect("linked with --eh-frame-hdr")
            .vaddr,
    );
    let load = segs.iter().filter(|s| s.kind == elf::PT_LOAD);
    let at = |s: &elf::Segment, len| (bias + s.vaddr, bias + s.vaddr + len);
    let live = Live {
        data: load
            .clone()
            .filter(|s| s.flags & elf::PF_R != 0 && s.filesz > 0)
            .map(|s| at(s, s.filesz))
            .collect(),
        exec: load
            .filter(|s| s.flags & elf::PF_X != 0)
            .map(|s| at(s, s.memsz))
            .collect(),
        stack: (0, 0),
    };
    (live, hdr, bias, info.symbols)
}

const MAX: usize = 64;

/// Walks from here outwards while the frames are in this binary: the
/// return addresses, the functions' FDE ranges, and how many were found.
#[inline(never)]
fn walk(mem: &Live, hdr: u64, frames: &mut [u64; MAX], ranges: &mut [(u64, u64); MAX]) -> usize {
    let (ip, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers, touches nothing else.
    unsafe {
        std::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            ip = out(reg) ip,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags),
        );
    }
    let mut regs = Regs::new(ip, sp, bp);
    let mut n = 0;
    while n < MAX && mem.in_binary(regs.ip()) {
        let first = n == 0;
        frames[n] = regs.ip();
        let pc = if first { regs.ip() } else { regs.ip() - 1 };
        ranges[n] = unwind::function_range(mem, hdr, pc).unwrap_or_default();
        n += 1;
        match unwind::step(mem, hdr, &regs, first) {
            Some(next) => {
                assert!(next.get(RSP) > regs.get(RSP));
                regs = next;
            }
            None => break,
        }
    }
    n
}

#[test]
fn the_counter_sees_an_allocation() {
    let (b, allocations) = counted(|| std::hint::black_box(Box::new(7u64)));
    assert_eq!((*b, allocations), (7, 1));
}

#[test]
fn unwinding_the_live_stack_allocates_nothing() {
    let (mut mem, hdr, bias, symbols) = setup();
    let here = 0u8;
    mem.stack = mapping_of(&here as *const u8 as u64);
    let mut frames = [0u64; MAX];
    let mut ranges = [(0u64, 0u64); MAX];

    let (n, allocations) = counted(|| walk(&mem, hdr, &mut frames, &mut ranges));

    let names: Vec<&str> = frames[..n]
        .iter()
        .map(|&ip| symbols.at(ip - bias - 1).map_or("?", |s| s.0))
        .collect();
    assert_eq!(allocations, 0, "the walk allocated: {names:?}");
    assert!(n >= 4, "only {n} frames: {names:?}");
    assert!(names[0].contains("walk"), "{names:?}");
    // The test function itself may be inlined into its harness closure
    // (release builds): the harness is what the walk must reach.
    assert!(
        names
            .iter()
            .any(|s| s.contains("__rust_begin_short_backtrace")),
        "the walk reaches the test harness: {names:?}"
    );
    for (i, &(lo, hi)) in ranges[..n].iter().enumerate() {
        let pc = if i == 0 { frames[i] } else { frames[i] - 1 };
        assert!(lo <= pc && pc < hi, "frame {i} {:#x}: {lo:#x}..{hi:#x}", pc);
    }
}

#[test]
fn a_corrupt_live_stack_ends_the_walk_without_allocating() {
    let (mut mem, hdr, _, _) = setup();
    // The walk may only read a window of stack that holds nothing it
    // needs: every step past the first frame finds no return address.
    let here = 0u8;
    let sp = &here as *const u8 as u64;
    mem.stack = (sp.wrapping_add(1 << 20), sp.wrapping_add(1 << 20));
    let mut frames = [0u64; MAX];
    let mut ranges = [(0u64, 0u64); MAX];
    let (n, allocations) = counted(|| walk(&mem, hdr, &mut frames, &mut ranges));
    assert_eq!(allocations, 0);
    assert_eq!(n, 1, "only the first frame is known");
}
