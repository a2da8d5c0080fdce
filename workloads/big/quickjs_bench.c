/* quickjs_bench: run a deterministic JavaScript workload on the QuickJS
 * engine (quickjs-ng sources bundled by the rquickjs-sys crate), compiled to
 * wasm32-wasi. The script (quickjs_bench.js) is embedded at build time as
 * quickjs_bench.js.h (generated into target/, see build-workloads.sh).
 *
 * The host supplies `print(...)`, which writes a line and folds it into an
 * FNV-1a checksum, and `SCALE`, taken from argv[1] (default 1). Pending
 * promise jobs are run to completion after the script.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"
#include "quickjs_bench.js.h" /* static const char quickjs_bench_js[] */

static uint64_t fnv = 0xcbf29ce484222325ull;
static unsigned lines;

static void fold(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fnv ^= (unsigned char)s[i];
        fnv *= 0x100000001b3ull;
    }
}

static JSValue js_print(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    for (int i = 0; i < argc; i++) {
        size_t len;
        const char *s = JS_ToCStringLen(ctx, &len, argv[i]);
        if (!s)
            return JS_EXCEPTION;
        if (i)
            fputc(' ', stdout);
        fwrite(s, 1, len, stdout);
        fold(s, len);
        fold(i + 1 < argc ? " " : "\n", 1);
        JS_FreeCString(ctx, s);
    }
    fputc('\n', stdout);
    lines++;
    return JS_UNDEFINED;
}

static int report_exception(JSContext *ctx)
{
    JSValue exc = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, exc);
    fprintf(stderr, "quickjs_bench: uncaught: %s\n", s ? s : "?");
    if (s)
        JS_FreeCString(ctx, s);
    JSValue stack = JS_GetPropertyStr(ctx, exc, "stack");
    if (!JS_IsUndefined(stack)) {
        const char *st = JS_ToCString(ctx, stack);
        if (st) {
            fprintf(stderr, "%s\n", st);
            JS_FreeCString(ctx, st);
        }
    }
    JS_FreeValue(ctx, stack);
    JS_FreeValue(ctx, exc);
    return 1;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale <= 0)
        scale = 1;

    JSRuntime *rt = JS_NewRuntime();
    if (!rt) {
        fprintf(stderr, "quickjs_bench: cannot create runtime\n");
        return 1;
    }
    JS_SetMemoryLimit(rt, 256u * 1024 * 1024);
    JS_SetMaxStackSize(rt, 512 * 1024);
    JSContext *ctx = JS_NewContext(rt);
    if (!ctx) {
        fprintf(stderr, "quickjs_bench: cannot create context\n");
        return 1;
    }

    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "print", JS_NewCFunction(ctx, js_print, "print", 1));
    JS_SetPropertyStr(ctx, global, "SCALE", JS_NewInt32(ctx, scale));
    JS_FreeValue(ctx, global);

    printf("quickjs %s, scale %d\n", JS_GetVersion(), scale);
    int rc = 0;
    JSValue r = JS_Eval(ctx, quickjs_bench_js, strlen(quickjs_bench_js), "quickjs_bench.js", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(r))
        rc = report_exception(ctx);
    JS_FreeValue(ctx, r);

    for (;;) {
        JSContext *jctx;
        int j = JS_ExecutePendingJob(rt, &jctx);
        if (j == 0)
            break;
        if (j < 0) {
            rc = report_exception(jctx);
            break;
        }
    }

    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    if (rc)
        return rc;
    printf("quickjs_bench: lines=%u\n", lines);
    printf("checksum: %016llx\n", (unsigned long long)fnv);
    return 0;
}
