//! The reseal trampoline that ends a call window.
//!
//! When a trusted writer function opens a page, its return address is
//! replaced by this trampoline's. Its `ret` lands here; `end_call_window`
//! seals the window and hands back the real return address, which the
//! trampoline returns to.
//!
//! Every general register but rbx/rbp/rsp/r12-r15 (which the Rust code
//! preserves by the ABI) and xmm0-15 are saved and restored, not only the
//! return-value registers: GCC's interprocedural register allocation
//! (-fipa-ra, on at -O2) lets a caller keep values in caller-saved
//! registers across a call to a same-unit function it knows leaves them
//! alone (WAMR's allocator does this), so the trampoline must be invisible.
//!
//! The stack is aligned here rather than assumed aligned: GCC may call a
//! same-unit function with the stack 8 bytes off 16 (a thread function
//! calling a trusted writer directly), and the Rust code below uses
//! aligned SSE stores. rbp keeps the entry stack pointer.

core::arch::global_asm!(
    ".pushsection .text.jitguard_reseal_trampoline,\"ax\",@progbits",
    ".p2align 4",
    ".globl jitguard_reseal_trampoline",
    ".hidden jitguard_reseal_trampoline",
    ".type jitguard_reseal_trampoline,@function",
    // Unwind tables: an unwinder looks a return address up one byte
    // before it, so the one-byte pad puts that byte inside this entry,
    // which says "outermost frame" (rip undefined). A backtrace or a
    // forced unwind that meets a redirected frame stops here instead of
    // unwinding with the previous function's rules.
    ".cfi_startproc",
    ".cfi_undefined rip",
    "nop",
    "jitguard_reseal_trampoline:",
    // Room for the real return address at [rbp + 8].
    "sub rsp, 8",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "push rax",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    // 9 pushes (72) + 264 = 336, a multiple of 16: the call is aligned.
    "sub rsp, 264",
    "movdqu [rsp + 0], xmm0",
    "movdqu [rsp + 16], xmm1",
    "movdqu [rsp + 32], xmm2",
    "movdqu [rsp + 48], xmm3",
    "movdqu [rsp + 64], xmm4",
    "movdqu [rsp + 80], xmm5",
    "movdqu [rsp + 96], xmm6",
    "movdqu [rsp + 112], xmm7",
    "movdqu [rsp + 128], xmm8",
    "movdqu [rsp + 144], xmm9",
    "movdqu [rsp + 160], xmm10",
    "movdqu [rsp + 176], xmm11",
    "movdqu [rsp + 192], xmm12",
    "movdqu [rsp + 208], xmm13",
    "movdqu [rsp + 224], xmm14",
    "movdqu [rsp + 240], xmm15",
    "mov rdi, rax",
    "call {end}",
    "mov [rbp + 8], rax",
    "movdqu xmm0, [rsp + 0]",
    "movdqu xmm1, [rsp + 16]",
    "movdqu xmm2, [rsp + 32]",
    "movdqu xmm3, [rsp + 48]",
    "movdqu xmm4, [rsp + 64]",
    "movdqu xmm5, [rsp + 80]",
    "movdqu xmm6, [rsp + 96]",
    "movdqu xmm7, [rsp + 112]",
    "movdqu xmm8, [rsp + 128]",
    "movdqu xmm9, [rsp + 144]",
    "movdqu xmm10, [rsp + 160]",
    "movdqu xmm11, [rsp + 176]",
    "movdqu xmm12, [rsp + 192]",
    "movdqu xmm13, [rsp + 208]",
    "movdqu xmm14, [rsp + 224]",
    "movdqu xmm15, [rsp + 240]",
    "add rsp, 264",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "mov rsp, rbp",
    "pop rbp",
    "ret",
    ".cfi_endproc",
    ".size jitguard_reseal_trampoline, . - jitguard_reseal_trampoline",
    ".popsection",
    end = sym window_return,
);

extern "C" {
    fn jitguard_reseal_trampoline();
}

/// Where a call window's writer is made to return.
pub fn address() -> u64 {
    jitguard_reseal_trampoline as *const () as usize as u64
}

extern "C" fn window_return(rax: u64) -> u64 {
    // The writer's caller sees errno as the writer left it.
    let saved = crate::sys::errno();
    let ret = super::end_call_window();
    crate::log!(
        Trace,
        "call window ends: return {rax:#x} to {ret:#x} thread {}",
        crate::sys::tid()
    );
    crate::sys::set_errno(saved);
    ret
}
