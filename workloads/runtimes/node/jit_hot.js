// Hot JavaScript that V8 tiers up (Ignition -> Sparkplug -> TurboFan),
// regular expressions hot enough for Irregexp's native code, and a call
// site whose object shapes change after optimisation (a deopt). Every
// printed value is an integer hash, so the output is the same on every
// correct run.
'use strict';

function mix(h, x) {
  return Math.imul(h ^ x, 0x01000193) >>> 0;
}

// Integer loops: TurboFan compiles these on the main thread's behalf.
function sieve(n) {
  const comp = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (comp[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) comp[j] = 1;
  }
  return count;
}

function xorshift(seed, n) {
  let x = seed | 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    h = mix(h, x);
  }
  return h;
}

// Doubles hashed by their bit patterns: IEEE arithmetic is exact.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
function hashDouble(h, d) {
  f64[0] = d;
  return mix(mix(h, u32[0]), u32[1]);
}

function nbodyish(steps) {
  const px = [0, 1, -1, 0.5], py = [0, 0.5, 0.25, -1];
  const vx = [0, 0, 0.1, -0.2], vy = [0.3, -0.1, 0, 0.05];
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < 4; i++) {
      let ax = 0, ay = 0;
      for (let j = 0; j < 4; j++) {
        if (i === j) continue;
        const dx = px[j] - px[i], dy = py[j] - py[i];
        const r2 = dx * dx + dy * dy + 0.01;
        const inv = 1 / (r2 * Math.sqrt(r2));
        ax += dx * inv;
        ay += dy * inv;
      }
      vx[i] += ax * 0.001;
      vy[i] += ay * 0.001;
    }
    for (let i = 0; i < 4; i++) {
      px[i] += vx[i] * 0.001;
      py[i] += vy[i] * 0.001;
    }
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < 4; i++) h = hashDouble(hashDouble(h, px[i]), py[i]);
  return h;
}

// A call site optimised for one shape, then fed others: TurboFan's code
// deoptimises and is compiled again.
class A { constructor(v) { this.v = v; } get() { return this.v; } }
class B { constructor(v) { this.w = 1; this.v = v; } get() { return this.v * 3; } }
class C { constructor(v) { this.v = v; this.z = 2; } get() { return this.v ^ this.z; } }

function sumGets(objs) {
  let s = 0;
  for (let i = 0; i < objs.length; i++) s = (s + objs[i].get()) | 0;
  return s;
}

function shapes() {
  const mono = [], poly = [];
  for (let i = 0; i < 1000; i++) {
    mono.push(new A(i));
    poly.push(i % 3 === 0 ? new A(i) : i % 3 === 1 ? new B(i) : new C(i));
  }
  let h = 0x811c9dc5;
  for (let r = 0; r < 3000; r++) h = mix(h, sumGets(mono));
  for (let r = 0; r < 3000; r++) h = mix(h, sumGets(poly));
  return h;
}

// Strings, regular expressions (Irregexp compiles hot ones to machine
// code), Map and sort.
function words(n) {
  const syl = ['ka', 'ri', 'to', 'nu', 'me', 'sa', 'lo', 'vi'];
  const out = [];
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    let w = '';
    for (let k = 0; k < 2 + (x % 4); k++) w += syl[(x >>> (3 * k + 5)) & 7];
    out.push(w + (x % 97));
  }
  return out;
}

function textWork() {
  const ws = words(20000);
  const re = /^([a-z]{2})((?:ri|nu)+)[a-z]*?(\d+)$/;
  const counts = new Map();
  let h = 0x811c9dc5;
  for (let r = 0; r < 5; r++) {
    for (const w of ws) {
      const m = re.exec(w);
      if (m) {
        const k = m[1] + m[2].length;
        counts.set(k, (counts.get(k) || 0) + Number(m[3]));
      }
    }
  }
  const keys = [...counts.keys()].sort();
  for (const k of keys) {
    for (let i = 0; i < k.length; i++) h = mix(h, k.charCodeAt(i));
    h = mix(h, counts.get(k));
  }
  const sorted = ws.slice().sort((a, b) => (a.length - b.length) || (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < sorted.length; i += 97) h = mix(h, sorted[i].length);
  const json = JSON.parse(JSON.stringify({ keys, n: ws.length }));
  return mix(h, json.keys.length + json.n);
}

const hex = (x) => (x >>> 0).toString(16).padStart(8, '0');
console.log('sieve:', sieve(2000000));
console.log('xorshift:', hex(xorshift(2463534242, 5000000)));
console.log('nbody:', hex(nbodyish(200000)));
console.log('shapes:', hex(shapes()));
console.log('text:', hex(textWork()));
