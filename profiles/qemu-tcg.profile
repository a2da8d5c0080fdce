# jitguard writer profile 1
# Built in: QEMU's user-mode emulators (qemu-x86_64 and its siblings,
# Debian's qemu-user) with the TCG code generator.
#
# Debian strips QEMU's local symbols; its binaries still export the TCG
# and translation entry points (they are linked for TCG plugins). The code
# that writes the translation buffer is mostly static (tcg_out_* emitters,
# the TB allocator, jump patching helpers) and cannot be named, so writes
# are vouched for by the exported calls they run beneath. Recorded with
# learn and audit runs of coreutils, Python, sort, sha256sum, and a guest
# JIT that modifies its own code (examples/toyjit.c under qemu-x86_64).
detect tcg_gen_code
detect tb_gen_code

# The prologue/epilogue emitted once at start-up.
during tcg_prologue_init
# Translating a block: the guest decoder (translator_loop), the code
# generator (tcg_gen_code) and the TranslationBlock header, which lives in
# the code buffer, then linking it (tb_link_page, tb_set_jmp_target).
during tb_gen_code
# The execution loop chains blocks (tb_add_jump, inlined into cpu_exec:
# the TB's jump lists, in the code buffer) and patches the jump.
symbol cpu_exec
symbol tb_set_jmp_target
# Invalidation when the guest writes, unmaps or re-protects code it ran
# (self-modifying code faults into page_unprotect, under QEMU's SIGSEGV
# handler), and flushing the whole buffer.
during tb_invalidate_phys_page_unwind
during tb_invalidate_phys_page
during tb_invalidate_phys_range
during tb_phys_invalidate
during tb_flush

# The guest's own memory: QEMU maps it with the guest's protection, so a
# guest JIT's RWX buffer is RWX on the host too, but QEMU never executes
# it (it runs only its own translations): not code, left unguarded.
unguarded-during target_mmap
unguarded-during target_mprotect
unguarded-during target_mremap
unguarded-during page_unprotect
unguarded-during load_elf_binary
