# jitguard writer profile 1
# Built in: stock WAMR (iwasm, or an embedder linking libiwasm) with the
# Fast JIT. Applies when a loaded module has both `detect` functions.
#
# Matched by function name, so any WAMR build that keeps its symbols fits.
# The list is what learn mode recorded over the whole workload suite
# (15 kernels, SQLite, zstd, QuickJS, three 1,500-function modules, the
# out-of-bounds traps), and nothing more: a build that does not inline the
# same helpers may need a `jitguard learn` run to extend it. Fast JIT's code lives in a pool that WAMR's own
# allocator (ems) manages inside the RWX mapping, so the allocator's
# bookkeeping and the pool mutex write there, besides the code copy and
# its fix-ups.
#
# Trusting os_mutex_* lets any caller of WAMR's mutex wrappers write a
# mutex word placed in the code pool: only the pool's own lock lives
# there, and the words written are lock states, not chosen bytes.
detect jit_compiler_compile
detect gc_alloc_vo

# Code emission: the copy into the pool (b_memcpy_s -> memcpy) and the
# fix-ups codegen writes in place.
symbol jit_codegen_gen_native
symbol b_memcpy_s

# The code cache allocator (core/shared/mem-alloc/ems) and its wrappers.
symbol gc_init_with_pool
symbol gc_destroy_with_pool
symbol gc_alloc_vo
symbol gc_free_vo
symbol gci_add_fc
symbol alloc_hmu
symbol unlink_hmu
symbol remove_tree_node

# The pool mutex (pthread_mutex_* through WAMR's platform layer).
symbol os_mutex_init
symbol os_mutex_destroy
symbol os_mutex_lock
symbol os_mutex_unlock
