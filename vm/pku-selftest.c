/*
 * pku-selftest: checks that Intel MPK / PKU works on the machine it runs on.
 *
 * Built and run inside the QEMU TCG VM by `scripts/pku-vm.sh --self-test`.
 * It checks, in order:
 *   - CPUID.7.0:ECX.PKU (bit 3) and OSPKE (bit 4); CPUID(0xD,9) = PKRU
 *     state component (EAX = size, EBX = offset in the standard XSAVE area)
 *   - pkey_alloc(0, PKEY_DISABLE_WRITE) and pkey_mprotect on an RWX page
 *   - /proc/self/smaps has "ProtectionKey: <key>" for that mapping
 *   - code on the write-disabled page still executes (PKU never blocks fetch)
 *   - a write to the page raises SIGSEGV, si_code SEGV_PKUERR (4), si_pkey
 *   - the PKRU value the SIGSEGV handler is entered with (RDPKRU)
 *   - the handler finds PKRU in the signal frame's XSAVE area at
 *     fpregs + CPUID(0xD,9).EBX, clears the key's WD bit there (setting
 *     XSTATE_BV bit 9 at offset 512), and the faulting write succeeds on
 *     return, with the edited PKRU live afterwards
 *   - WRPKRU directly: PKEY_DISABLE_ACCESS makes a read fault; clearing it
 *     lets the read through
 * Prints "PASS x"/"FAIL x" lines, "INFO k=v" lines, and a closing
 * "N passed, N failed" line; exits 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SEGV_PKUERR
#define SEGV_PKUERR 4
#endif
#define FP_XSTATE_MAGIC1 0x46505853U
#define XFEATURE_PKRU 9

static int passed, failed;
static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void check(int ok, const char *name, const char *fmt, ...) {
    va_list ap;
    printf("%s %s", ok ? "PASS" : "FAIL", name);
    if (fmt && *fmt) {
        printf(": ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    if (ok) passed++; else failed++;
}

static inline uint32_t rdpkru(void) {
    uint32_t eax, edx, ecx = 0;
    __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(ecx));
    return eax;
}
static inline void wrpkru(uint32_t pkru) {
    __asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

static uint32_t pkru_off;           /* CPUID(0xD,9).EBX */
static int the_key = -1;
static volatile int sig_count, sig_code, sig_pkey, sig_xsave_ok, sig_bv_had_pkru;
static volatile uint32_t sig_entry_pkru, sig_frame_pkru, sig_new_pkru;
static volatile void *sig_addr;
static volatile int mode;           /* 0: edit frame PKRU; 1: longjmp out */
static sigjmp_buf jb;

static void on_segv(int sig, siginfo_t *si, void *uc_) {
    (void)sig;
    sig_entry_pkru = rdpkru();
    ucontext_t *uc = uc_;
    sig_count++;
    sig_code = si->si_code;
    sig_pkey = (int)si->si_pkey;
    sig_addr = si->si_addr;
    if (mode == 1) siglongjmp(jb, 1);
    uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
    /* sw_reserved (bytes 464..511 of the fxsave area) starts with magic1 */
    uint32_t magic1 = fp ? *(uint32_t *)(fp + 464) : 0;
    sig_xsave_ok = fp && magic1 == FP_XSTATE_MAGIC1;
    if (!sig_xsave_ok || pkru_off == 0) {
        /* cannot fix up: leave via longjmp to avoid an endless fault loop */
        siglongjmp(jb, 2);
    }
    uint64_t *xstate_bv = (uint64_t *)(fp + 512);
    uint32_t *pkru = (uint32_t *)(fp + pkru_off);
    sig_bv_had_pkru = (*xstate_bv >> XFEATURE_PKRU) & 1;
    /* if the bit is clear the component is in init state (PKRU=0) */
    sig_frame_pkru = sig_bv_had_pkru ? *pkru : 0;
    uint32_t v = sig_frame_pkru & ~(3u << (2 * sig_pkey));
    *pkru = v;
    *xstate_bv |= 1ull << XFEATURE_PKRU;
    sig_new_pkru = v;
}

static int smaps_key(void *addr, char *line, size_t n) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -2;
    char buf[512];
    int in = 0, key = -1;
    uintptr_t a = (uintptr_t)addr;
    line[0] = 0;
    while (fgets(buf, sizeof buf, f)) {
        unsigned long lo, hi;
        if (sscanf(buf, "%lx-%lx ", &lo, &hi) == 2 && strchr(buf, ' ') &&
            buf[strspn(buf, "0123456789abcdef")] == '-') {
            in = (a >= lo && a < hi);
            continue;
        }
        if (in && strncmp(buf, "ProtectionKey:", 14) == 0) {
            key = atoi(buf + 14);
            buf[strcspn(buf, "\n")] = 0;
            snprintf(line, n, "%.200s", buf);
            break;
        }
    }
    fclose(f);
    return key;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    int pku = (c >> 3) & 1, ospke = (c >> 4) & 1;
    printf("INFO cpuid7.ecx=0x%08x pku=%d ospke=%d\n", c, pku, ospke);
    check(pku, "cpuid_pku", "CPUID.7.0:ECX bit 3");
    check(ospke, "cpuid_ospke", "CPUID.7.0:ECX bit 4");
    __cpuid_count(0xd, 0, a, b, c, d);
    printf("INFO cpuid_d_0 xcr0_supported_lo=0x%08x xsave_size_enabled=%u xsave_size_max=%u\n", a, b, c);
    __cpuid_count(0xd, 9, a, b, c, d);
    pkru_off = b;
    printf("INFO cpuid_d_9 eax(size)=%u ebx(offset)=%u ecx=0x%x\n", a, b, c);
    check(a == 8 && b != 0, "cpuid_d_9", "size=%u offset=%u", a, b);
    if (!pku || !ospke) goto out;

    printf("INFO pkru_at_start=0x%08x\n", rdpkru());
    int key = pkey_alloc(0, PKEY_DISABLE_WRITE);
    check(key > 0, "pkey_alloc", "key=%d errno=%s", key, key < 0 ? strerror(errno) : "0");
    if (key <= 0) goto out;
    the_key = key;
    uint32_t pk = rdpkru();
    printf("INFO pkru_after_alloc=0x%08x\n", pk);
    check(((pk >> (2 * key)) & 3) == 2, "pkru_wd_set", "pkru=0x%08x", pk);

    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) { perror("mmap"); return 2; }
    /* mov eax, 42 ; ret */
    static const uint8_t code[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
    memcpy(page, code, sizeof code);
    int r = pkey_mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, key);
    check(r == 0, "pkey_mprotect", "rc=%d %s", r, r ? strerror(errno) : "");

    char line[256];
    int sk = smaps_key(page, line, sizeof line);
    printf("INFO smaps_line=\"%s\"\n", line);
    check(sk == key, "smaps_protection_key", "smaps key=%d want %d", sk, key);

    int (*fn)(void) = (int (*)(void))(void *)page;
    int got = fn();
    check(got == 42, "exec_on_wd_page", "returned %d", got);
    check(page[0] == 0xb8, "read_on_wd_page", NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);

    mode = 0;
    int jr = sigsetjmp(jb, 1);
    if (jr == 0) {
        *(volatile uint8_t *)(page + 100) = 0x5a;  /* faults, fixed in handler */
    }
    uint32_t after = rdpkru();
    printf("INFO handler_entry_pkru=0x%08x\n", sig_entry_pkru);
    printf("INFO frame: xsave_magic_ok=%d xstate_bv_pkru_bit=%d frame_pkru=0x%08x edited_pkru=0x%08x\n",
           sig_xsave_ok, sig_bv_had_pkru, sig_frame_pkru, sig_new_pkru);
    printf("INFO pkru_after_return=0x%08x\n", after);
    check(sig_count == 1, "sigsegv_raised", "count=%d", sig_count);
    check(sig_code == SEGV_PKUERR, "si_code_pkuerr", "si_code=%d", sig_code);
    check(sig_pkey == key, "si_pkey", "si_pkey=%d", sig_pkey);
    check(sig_addr == page + 100, "si_addr", "%p", (void *)sig_addr);
    check(sig_xsave_ok, "sigframe_xsave_magic", NULL);
    check(sig_frame_pkru == pk, "sigframe_pkru_matches", "frame=0x%08x live=0x%08x", sig_frame_pkru, pk);
    check(jr == 0 && page[100] == 0x5a, "write_after_frame_edit", "jr=%d byte=0x%02x", jr, page[100]);
    check(after == sig_new_pkru, "pkru_restored_from_frame", "after=0x%08x want 0x%08x", after, sig_new_pkru);

    /* WRPKRU directly: disable access, read must fault; enable, read works */
    mode = 1;
    sig_count = 0;
    wrpkru(after | (1u << (2 * key)));
    jr = sigsetjmp(jb, 1);
    if (jr == 0) {
        volatile uint8_t x = *(volatile uint8_t *)(page + 7);
        (void)x;
    }
    uint32_t ad = rdpkru();
    printf("INFO pkru_after_siglongjmp_from_handler=0x%08x (not restored: longjmp skips sigreturn)\n", ad);
    check(jr == 1 && sig_count == 1 && sig_code == SEGV_PKUERR && sig_pkey == key,
          "wrpkru_ad_read_faults", "jr=%d count=%d code=%d pkey=%d", jr, sig_count, sig_code, sig_pkey);
    wrpkru(ad & ~(3u << (2 * key)));
    volatile uint8_t x = page[100];
    check(x == 0x5a, "wrpkru_enable_read", NULL);
    page[200] = 1;
    check(page[200] == 1, "wrpkru_enable_write", NULL);

    check(pkey_free(key) == 0, "pkey_free", NULL);
out:
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
