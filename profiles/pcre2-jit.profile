# jitguard writer profile 1
# Built in: PCRE2's JIT (sljit) in libpcre2-8, as pcre2grep and grep -P
# use it.
#
# Distributions strip the library's local symbols, so the code that writes
# (sljit's instruction buffer flush, jump and constant patching, and its
# executable allocator's free-block headers) cannot be named, and its
# offsets change with every build. What every build keeps is its exported
# API: a write is trusted while one of these entry points runs beneath
# the library's own caller. They are the calls that create code
# (pcre2_jit_compile_8) and free it (pcre2_code_free_8, and
# pcre2_jit_free_unused_memory_8, which returns empty chunks). A write from
# anywhere else, in the library or outside it, is denied. What this lets
# through (callbacks the program registered with PCRE2's memory context
# run beneath these calls too) is in SECURITY.md.
detect pcre2_jit_compile_8
during pcre2_jit_compile_8
during pcre2_code_free_8
during pcre2_jit_free_unused_memory_8
