// Makes V8's garbage collector free and move machine code: a few hundred
// short-lived functions from `new Function` (each with its own source, so
// each gets its own code), run hot enough to be compiled, mostly dropped,
// with full collections in between. Run with --expose-gc (for gc()) and,
// to make every full GC compact code space too, --stress-compaction: the
// survivors' code is then copied to other code pages and the references
// to it patched, all writes into memory jitguard guards.
//
//   node --expose-gc --stress-compaction --always-sparkplug gc_code.js [ROUNDS [BATCH]]
//
// --always-sparkplug gives every function baseline machine code at once,
// so a few hundred functions fill several code pages, which compaction
// then evacuates (--trace-evacuation shows "executable=1" pages).
'use strict';

const rounds = Number(process.argv[2] || 2);
const batchSize = Number(process.argv[3] || 60);

function mix(h, x) {
  return Math.imul(h ^ x, 0x01000193) >>> 0;
}

const keep = [];
let h = 0x811c9dc5;
for (let round = 0; round < rounds; round++) {
  let batch = [];
  for (let i = 0; i < batchSize; i++) {
    const k = round * 1000 + i;
    // Distinct source text: no code sharing between the functions.
    // Small-integer arithmetic only: much code, few heap references in it.
    let cases = '';
    for (let c = 0; c < 16; c++) {
      cases += `case ${c}: s = (s * ${((k + c) % 13) + 3} + (j ^ ${k + c})) | 0; break;\n`;
    }
    const f = new Function('n', `
      let s = ${k};
      for (let j = 0; j < n; j++) { switch (j & 15) { ${cases} } }
      return s;`);
    let r = 0;
    for (let c = 0; c < 40; c++) r = f(50 + c);
    h = mix(h, r);
    batch.push(f);
  }
  // Keep one in ten: the rest of the batch, and its code, becomes garbage.
  for (let i = 0; i < batch.length; i += 10) keep.push(batch[i]);
  batch = null;
  if (typeof gc === 'function') gc();
  // The survivors still run correctly wherever their code now lives.
  for (const f of keep) h = mix(h, f(7));
}
console.log(`functions kept: ${keep.length}, hash: ${(h >>> 0).toString(16).padStart(8, '0')}`);
