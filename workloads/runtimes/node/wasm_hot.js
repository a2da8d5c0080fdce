// A hand-assembled WebAssembly module (wasm_asm.js) run hot enough that V8
// compiles it with Liftoff and then tiers the hot functions up to
// TurboFan. Integer and IEEE double results are printed as hex, so the
// output is the same on every correct run.
'use strict';
const { T, op, assemble } = require('./wasm_asm.js');

const fib = {
  name: 'fib', params: [T.i32], results: [T.i32], locals: [],
  body: [
    op.get(0), op.i32(2), op.i32_lt_s, op.if(T.i32),
    op.get(0),
    op.else,
    op.get(0), op.i32(1), op.i32_sub, op.call(0),
    op.get(0), op.i32(2), op.i32_sub, op.call(0), op.i32_add,
    op.end,
  ],
};

// fill(ptr, len, seed): len xorshift32 words at ptr. Locals: i=3, x=4.
const fill = {
  name: 'fill', params: [T.i32, T.i32, T.i32], results: [], locals: [T.i32, T.i32],
  body: [
    op.get(2), op.set(4),
    op.block(), op.loop(),
    op.get(3), op.get(1), op.i32_ge_u, op.br_if(1),
    op.get(4), op.get(4), op.i32(13), op.i32_shl, op.i32_xor, op.set(4),
    op.get(4), op.get(4), op.i32(17), op.i32_shr_u, op.i32_xor, op.set(4),
    op.get(4), op.get(4), op.i32(5), op.i32_shl, op.i32_xor, op.set(4),
    op.get(0), op.get(3), op.i32(2), op.i32_shl, op.i32_add, op.get(4), op.i32_store(),
    op.get(3), op.i32(1), op.i32_add, op.set(3),
    op.br(0), op.end, op.end,
  ],
};

// hash(ptr, len) -> i64: FNV-1a-64 over len words. Locals: i=2, h=3.
const hash = {
  name: 'hash', params: [T.i32, T.i32], results: [T.i64], locals: [T.i32, T.i64],
  body: [
    op.i64(0xcbf29ce484222325n - (1n << 64n)), op.set(3),
    op.block(), op.loop(),
    op.get(2), op.get(1), op.i32_ge_u, op.br_if(1),
    op.get(3),
    op.get(0), op.get(2), op.i32(2), op.i32_shl, op.i32_add, op.i32_load(),
    op.i64_extend_i32_u, op.i64_xor, op.i64(0x100000001b3), op.i64_mul, op.set(3),
    op.get(2), op.i32(1), op.i32_add, op.set(2),
    op.br(0), op.end, op.end,
    op.get(3),
  ],
};

// collatz(lo, hi) -> i32: the most steps any n in [lo, hi) takes to reach 1.
// Locals: n=2, steps=3, best=4, x=5 (i64).
const collatz = {
  name: 'collatz', params: [T.i32, T.i32], results: [T.i32], locals: [T.i32, T.i32, T.i32, T.i64],
  body: [
    op.get(0), op.set(2),
    op.block(), op.loop(),
    op.get(2), op.get(1), op.i32_ge_u, op.br_if(1),
    op.get(2), op.i64_extend_i32_u, op.set(5), op.i32(0), op.set(3),
    op.block(), op.loop(),
    op.get(5), op.i64(1), [0x51] /* i64.eq */, op.br_if(1),
    op.get(5), op.i64(1), [0x83] /* i64.and */, [0x50] /* i64.eqz */,
    op.if(T.i64),
    op.get(5), op.i64(1), op.i64_shr_u,
    op.else,
    op.get(5), op.i64(3), op.i64_mul, op.i64(1), op.i64_add,
    op.end, op.set(5),
    op.get(3), op.i32(1), op.i32_add, op.set(3),
    op.br(0), op.end, op.end,
    op.get(3), op.get(4), op.get(3), op.get(4), [0x4b] /* i32.gt_u */, op.select, op.set(4),
    op.get(2), op.i32(1), op.i32_add, op.set(2),
    op.br(0), op.end, op.end,
    op.get(4),
  ],
};

// mandel(n) -> i32: points of an n x n grid over [-2,1]x[-1.5,1.5] that
// stay bounded for 200 iterations. Locals: i=1, j=2, k=3, cr=4, ci=5,
// zr=6, zi=7, t=8, count=9.
const mandel = {
  name: 'mandel', params: [T.i32], results: [T.i32],
  locals: [T.i32, T.i32, T.i32, T.f64, T.f64, T.f64, T.f64, T.f64, T.i32],
  body: [
    op.block(), op.loop(),
    op.get(1), op.get(0), op.i32_ge_u, op.br_if(1),
    op.i32(0), op.set(2),
    op.block(), op.loop(),
    op.get(2), op.get(0), op.i32_ge_u, op.br_if(1),
    op.get(1), op.f64_convert_i32_s, op.f64(3), op.f64_mul, op.get(0), op.f64_convert_i32_s, op.f64_div,
    op.f64(-2), op.f64_add, op.set(4),
    op.get(2), op.f64_convert_i32_s, op.f64(3), op.f64_mul, op.get(0), op.f64_convert_i32_s, op.f64_div,
    op.f64(-1.5), op.f64_add, op.set(5),
    op.f64(0), op.set(6), op.f64(0), op.set(7), op.i32(0), op.set(3),
    op.block(), op.loop(),
    op.get(3), op.i32(200), op.i32_ge_u, op.br_if(1),
    op.get(6), op.get(6), op.f64_mul, op.get(7), op.get(7), op.f64_mul, op.f64_add,
    op.f64(4), [0x64] /* f64.gt */, op.br_if(1),
    op.get(6), op.get(6), op.f64_mul, op.get(7), op.get(7), op.f64_mul, op.f64_sub, op.get(4), op.f64_add, op.set(8),
    op.f64(2), op.get(6), op.f64_mul, op.get(7), op.f64_mul, op.get(5), op.f64_add, op.set(7),
    op.get(8), op.set(6),
    op.get(3), op.i32(1), op.i32_add, op.set(3),
    op.br(0), op.end, op.end,
    op.get(9), op.get(3), op.i32(200), op.i32_eq, op.i32_add, op.set(9),
    op.get(2), op.i32(1), op.i32_add, op.set(2),
    op.br(0), op.end, op.end,
    op.get(1), op.i32(1), op.i32_add, op.set(1),
    op.br(0), op.end, op.end,
    op.get(9),
  ],
};

const bytes = assemble({ funcs: [fib, fill, hash, collatz, mandel], memory: { min: 4, max: 4 } });
const hex64 = (v) => BigInt.asUintN(64, v).toString(16).padStart(16, '0');

const { exports: w } = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
console.log('fib(27):', w.fib(27));
let h = 0n;
for (let r = 0; r < 400; r++) {
  w.fill(0, 16384, 0x9e3779b9 + r);
  h ^= w.hash(0, 16384);
}
console.log('fill/hash:', hex64(h));
console.log('collatz:', w.collatz(1, 300000));
console.log('mandel:', w.mandel(300));
// A few fresh instances of the same bytes: more Liftoff code to write.
let sum = 0;
for (let i = 0; i < 20; i++) {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  sum += inst.exports.fib(15 + (i % 5)) + inst.exports.collatz(1, 2000 + i);
}
console.log('instances:', sum);
