# jitguard writer profile 1
# Built in: PCRE2's JIT (sljit) in Debian's libpcre2-8.so.0, as pcre2grep
# and grep -P use it.
#
# Debian strips the library's local symbols, so writers cannot be named by
# function name. These entries are the writing instructions learn mode saw
# over the 38 patterns of workloads/runtimes/pcre2 (pcre2grep and grep -P,
# one pattern per process and all in one), each widened to its whole
# function through the library's unwind tables (`function`). They hold
# for this build only (build id below); another build of libpcre2 gets the
# "no writer profile" notice and unauthenticated writes, as before. The
# same 42 instructions wrote in every run: sljit writes code from a few
# places (its instruction buffer flush and the jump/constant patching).
detect pcre2_jit_compile_8
module libpcre2-8.so.0 build-id 80008c19cf49e3f09f312e74d164938e91d9337d
function libpcre2-8.so.0+0x20da9
function libpcre2-8.so.0+0x20dad
function libpcre2-8.so.0+0x20db2
function libpcre2-8.so.0+0x20db7
function libpcre2-8.so.0+0x20e31
function libpcre2-8.so.0+0x20e49
function libpcre2-8.so.0+0x20e58
function libpcre2-8.so.0+0x20e5c
function libpcre2-8.so.0+0x20e63
function libpcre2-8.so.0+0x20e67
function libpcre2-8.so.0+0x20e6b
function libpcre2-8.so.0+0x20e78
function libpcre2-8.so.0+0x20e83
function libpcre2-8.so.0+0x20e8d
function libpcre2-8.so.0+0x21044
function libpcre2-8.so.0+0x210a4
function libpcre2-8.so.0+0x210e8
function libpcre2-8.so.0+0x211df
function libpcre2-8.so.0+0x211ea
function libpcre2-8.so.0+0x2121f
function libpcre2-8.so.0+0x21227
function libpcre2-8.so.0+0x2123a
function libpcre2-8.so.0+0x212fb
function libpcre2-8.so.0+0x21302
function libpcre2-8.so.0+0x21314
function libpcre2-8.so.0+0x21320
function libpcre2-8.so.0+0x2134e
function libpcre2-8.so.0+0x2135a
function libpcre2-8.so.0+0x21380
function libpcre2-8.so.0+0x2139a
function libpcre2-8.so.0+0x21405
function libpcre2-8.so.0+0x2140d
function libpcre2-8.so.0+0x21411
function libpcre2-8.so.0+0x21414
function libpcre2-8.so.0+0x21421
function libpcre2-8.so.0+0x21457
function libpcre2-8.so.0+0x2145b
function libpcre2-8.so.0+0x21478
function libpcre2-8.so.0+0x21485
function libpcre2-8.so.0+0x21492
function libpcre2-8.so.0+0x2149a
function libpcre2-8.so.0+0x214ed
