# jitguard writer profile 1
# Built in: Erlang/OTP's BEAM JIT (beam.smp, OTP 24 and later; made on
# Debian 12's erlang-base, OTP 25.2). Applies when a module has the JIT's
# C entry points beamasm_codegen and beam_load_finish_emit.
#
# BEAM maps its code memory twice from one memfd: `r-xs` to run, `rw-s` to
# write. No mapping is ever W+X: the RW view is guarded because it is a
# writable alias of code (see SECURITY.md, "Writable aliases of code").
#
# beam.smp is stripped of its local symbols, but it exports nearly every
# function of the emulator (NIFs link against it), C++ methods included,
# so the writers are named. Made from learn runs of
# workloads/runtimes/erlang/erl_workout.erl (compile:file of a generated
# 300-function module, loaded, reloaded with an on_load function and
# purged; call tracing; lists, maps, binaries, ets, processes): the second
# run added no site. tests/runtimes.rs checks that a NIF storing into the
# code memory is denied.
detect beamasm_codegen
detect beam_load_finish_emit

# The loader: the module's header, function table and literals, written
# into the code memory once the module is assembled.
symbol beam_load_finish_emit
# ... and the loader's last step, which patches every import, literal and
# lambda of the module through the assembler's patch methods: trusting
# it makes one call window of the whole step instead of one per fix-up
# (about 3,900 windows at boot without it, 140 with it).
symbol beam_load_finalize_code
# A module with an -on_load function is finished (its exports made live)
# once the function has run.
symbol finish_after_on_load_2
# The assemblers: asmjit's copy of the finished code (a memcpy beneath
# CodeHolder::copyFlattenedData; the suffix holds across asmjit's ABI
# namespaces), the module's fix-ups (patchCatches, patchImport,
# patchLambda, patchLiteral, patchStrings), codegen, and the global
# assembler that emits the shared fragments at start-up.
suffix 10CodeHolder17copyFlattenedDataEPvmNS0_16CopySectionFlagsE
prefix _ZN19BeamModuleAssembler
prefix _ZN13BeamAssembler
prefix _ZN19BeamGlobalAssembler
# Code unloading and tracing: the purge marks the module's code, and call
# breakpoints are patched into a traced function's prologue.
symbol erts_internal_purge_module_2
symbol erts_install_breakpoints
symbol erts_uninstall_breakpoints
# NIF loading (erlang:load_nif): the stubs written while it runs.
during erts_load_nif
# Static functions with no name in Debian's build, by offset (these hold
# for this build only): the finishers of a NIF load, which a scheduler
# runs after thread progress to write the NIFs' entries into the module's
# code, and the breakpoint setters beneath erlang:trace_pattern.
module beam.smp build-id 94bcd90b66fca38e41e627fa3a2ec089b2e498be
function beam.smp+0x2322bc
function beam.smp+0x232452
function beam.smp+0x103833
function beam.smp+0x103c19
