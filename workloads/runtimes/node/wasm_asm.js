// A tiny WebAssembly binary writer, enough for the hand-written modules of
// wasm_hot.js and wasm_oob.js (so they need no toolchain): LEB128, the
// type/function/memory/export/code sections, and the opcodes they use.
'use strict';

function uleb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n) {
  // BigInt so that i64 constants encode exactly.
  let v = BigInt(n);
  const out = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const T = { i32: 0x7f, i64: 0x7e, f64: 0x7c, void: 0x40 };

// Opcodes; the ones taking an immediate are functions.
const op = {
  block: (t = T.void) => [0x02, t],
  loop: (t = T.void) => [0x03, t],
  if: (t = T.void) => [0x04, t],
  else: [0x05],
  end: [0x0b],
  br: (l) => [0x0c, ...uleb(l)],
  br_if: (l) => [0x0d, ...uleb(l)],
  return: [0x0f],
  call: (f) => [0x10, ...uleb(f)],
  drop: [0x1a],
  select: [0x1b],
  get: (i) => [0x20, ...uleb(i)],
  set: (i) => [0x21, ...uleb(i)],
  tee: (i) => [0x22, ...uleb(i)],
  i32_load: (off = 0) => [0x28, 2, ...uleb(off)],
  i64_load: (off = 0) => [0x29, 3, ...uleb(off)],
  i32_load8_u: (off = 0) => [0x2d, 0, ...uleb(off)],
  i32_store: (off = 0) => [0x36, 2, ...uleb(off)],
  i64_store: (off = 0) => [0x37, 3, ...uleb(off)],
  i32_store8: (off = 0) => [0x3a, 0, ...uleb(off)],
  memory_size: [0x3f, 0],
  memory_grow: [0x40, 0],
  i32: (v) => [0x41, ...sleb(v)],
  i64: (v) => [0x42, ...sleb(v)],
  f64: (v) => {
    const b = new Uint8Array(new Float64Array([v]).buffer);
    return [0x44, ...b];
  },
  i32_eqz: [0x45], i32_eq: [0x46], i32_ne: [0x47], i32_lt_s: [0x48],
  i32_lt_u: [0x49], i32_gt_s: [0x4a], i32_le_s: [0x4c], i32_ge_u: [0x4f],
  i32_add: [0x6a], i32_sub: [0x6b], i32_mul: [0x6c], i32_div_u: [0x6e],
  i32_rem_u: [0x70], i32_and: [0x71], i32_or: [0x72], i32_xor: [0x73],
  i32_shl: [0x74], i32_shr_u: [0x76], i32_rotl: [0x77],
  i64_add: [0x7c], i64_mul: [0x7e], i64_xor: [0x85], i64_shr_u: [0x88],
  i64_rotl: [0x89],
  f64_add: [0xa0], f64_sub: [0xa1], f64_mul: [0xa2], f64_div: [0xa3],
  f64_sqrt: [0x9f],
  i32_wrap_i64: [0xa7], i64_extend_i32_u: [0xad], f64_convert_i32_s: [0xb7],
  i64_reinterpret_f64: [0xbd],
};

function vec(items) {
  return [...uleb(items.length), ...items.flat()];
}

function section(id, body) {
  return [id, ...uleb(body.length), ...body];
}

function name(s) {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

// funcs: [{ name, params: [T], results: [T], locals: [T], body: [bytes] }]
// memory: { min, max } pages, exported as "memory".
function assemble({ funcs, memory }) {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const code = funcs.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body.flat(Infinity), 0x0b];
    return [...uleb(body.length), ...body];
  });
  const exports = funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  exports.push([...name('memory'), 0x02, 0]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x01, ...uleb(memory.min), ...uleb(memory.max)]])),
    ...section(7, vec(exports)),
    ...section(10, vec(code)),
  ]);
}

module.exports = { T, op, assemble };
