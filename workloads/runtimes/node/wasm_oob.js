// WebAssembly out-of-bounds accesses, which V8 on x64 catches with its own
// SIGSEGV trap handler (guard regions, no explicit bounds checks): each
// must throw the same WebAssembly.RuntimeError under jitguard as without,
// before and after the function is tiered up, and the module must keep
// working afterwards (also after memory.grow).
'use strict';
const { T, op, assemble } = require('./wasm_asm.js');

const funcs = [
  { name: 'load', params: [T.i32], results: [T.i32], locals: [], body: [op.get(0), op.i32_load()] },
  { name: 'store', params: [T.i32, T.i32], results: [], locals: [], body: [op.get(0), op.get(1), op.i32_store()] },
  // sum(n): loads n words from 0, to make load-like code hot.
  {
    name: 'sum', params: [T.i32], results: [T.i32], locals: [T.i32, T.i32],
    body: [
      op.block(), op.loop(),
      op.get(1), op.get(0), op.i32_ge_u, op.br_if(1),
      op.get(2), op.get(1), op.i32(2), op.i32_shl, op.i32_load(), op.i32_add, op.set(2),
      op.get(1), op.i32(1), op.i32_add, op.set(1),
      op.br(0), op.end, op.end,
      op.get(2),
    ],
  },
  { name: 'grow', params: [T.i32], results: [T.i32], locals: [], body: [op.get(0), op.memory_grow] },
  { name: 'pages', params: [], results: [T.i32], locals: [], body: [op.memory_size] },
];
const { exports: w } = new WebAssembly.Instance(
  new WebAssembly.Module(assemble({ funcs, memory: { min: 1, max: 2 } })), {});

function attempt(what, fn) {
  try {
    const r = fn();
    console.log(`${what}: ok ${r}`);
  } catch (e) {
    console.log(`${what}: ${e.constructor.name}: ${e.message} (is RuntimeError: ${e instanceof WebAssembly.RuntimeError})`);
  }
}

const end = w.pages() * 65536;
attempt('load in bounds', () => w.load(end - 4));
attempt('load past end', () => w.load(end));
attempt('load straddling end', () => w.load(end - 2));
attempt('load far away', () => w.load(0x7ffffff0));
attempt('store past end', () => w.store(end + 8, 1));

// Hot: many in-bounds calls (tier-up), then many traps in a row.
for (let i = 0; i < 16384; i++) w.store(i * 4, i);
let s = 0;
for (let r = 0; r < 2000; r++) s = (s + w.sum(16384)) | 0;
let traps = 0;
for (let i = 0; i < 3000; i++) {
  try {
    w.load(end + (i % 64) * 4);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) traps++;
  }
}
console.log(`hot sum ${s}, traps ${traps}/3000`);

attempt('grow by one page', () => w.grow(1));
attempt('load at old end after grow', () => w.load(end));
attempt('load past new end', () => w.load(2 * end));
attempt('grow past maximum', () => w.grow(1));
// The last one is not caught: node must print it and exit with status 1.
w.store(3 * end, 7);
