# jitguard writer profile 1
# Built in: V8 as node 20 links it (node's own binary exports V8's
# symbols), run with --no-wasm-memory-protection-keys so that jitguard,
# not V8's single key, guards the wasm code space. Applies when the
# program has V8's code builder.
#
# Made with scripts/profile-symbols.py from learn runs of every node
# workload in workloads/runtimes/node and two WASI modules, plus `prefix`
# lines for the V8 classes whose methods write code in place (the
# assembler when it patches, RelocInfo's setters, the wasm jump tables).
# V8's garbage collector moves and fills code objects, so its copying and
# filler routines are writers too; V8's own CopyImpl (a memcpy helper)
# is trusted as a whole, which trusts its callers.
detect _ZN2v88internal7Factory11CodeBuilder13BuildInternalEb
prefix _ZN2v88internal4wasm18JumpTableAssembler
prefix _ZN2v88internal9Assembler
prefix _ZN2v88internal9RelocInfo
symbol _ZN2v88internal12_GLOBAL__N_125RememberedSetUpdatingItem7ProcessEv
symbol _ZN2v88internal17InstructionStream8RelocateEl
symbol _ZN2v88internal18FreeListManyCached4FreeEmmNS0_8FreeModeE
symbol _ZN2v88internal19EvacuateVisitorBase16RawMigrateObjectILNS1_13MigrationModeE0EEEvPS1_NS0_10HeapObjectES5_iNS0_15AllocationSpaceE
symbol _ZN2v88internal4Code15CopyFromNoFlushENS0_9ByteArrayEPNS0_4HeapERKNS0_8CodeDescE
symbol _ZN2v88internal4Code16RelocateFromDescENS0_9ByteArrayEPNS0_4HeapERKNS0_8CodeDescE
symbol _ZN2v88internal4Heap27CreateFillerObjectAtSweeperEmi
symbol _ZN2v88internal4Heap30CreateFillerObjectAtBackgroundEmi
symbol _ZN2v88internal4wasm12NativeModule20AddCodeWithCodeSpaceEiRKNS0_8CodeDescEijNS_4base6VectorIKhEES9_S9_NS1_8WasmCode4KindENS1_13ExecutionTierENS1_12ForDebuggingEbNS7_IhEERKNS2_13JumpTablesRefE
symbol _ZN2v88internal4wasm12NativeModule34CreateEmptyJumpTableInRegionLockedEiNS_4base13AddressRegionE
symbol _ZN2v88internal7Factory11CodeBuilder13BuildInternalEb
symbol _ZN2v88internal7Factory11CodeBuilder25AllocateInstructionStreamEb
symbol _ZN2v88internal8CopyImplILm16EmEEvPT0_PKS2_m.part.0
symbol _ZN2v88internal9Scavenger12ScavengePageEPNS0_11MemoryChunkE
