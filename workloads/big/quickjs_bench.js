// quickjs_bench.js: a deterministic JavaScript workload run by the QuickJS
// engine inside wasm (see quickjs_bench.c, which embeds this file).
// `print(...)` is supplied by the host and folds every line into the final
// checksum; `SCALE` scales the amount of work (default 1).
'use strict';

function hashStr(h, s) {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

// 1. Classes, objects and floating-point: a tiny particle simulation.
class Vec {
  constructor(x, y, z) { this.x = x; this.y = y; this.z = z; }
  add(o) { return new Vec(this.x + o.x, this.y + o.y, this.z + o.z); }
  scale(k) { return new Vec(this.x * k, this.y * k, this.z * k); }
  dot(o) { return this.x * o.x + this.y * o.y + this.z * o.z; }
  len() { return Math.sqrt(this.dot(this)); }
}

function particles(steps) {
  const ps = [];
  for (let i = 0; i < 64; i++) {
    ps.push({ p: new Vec(i % 7, (i * 3) % 11, (i * 5) % 13), v: new Vec(0, 0, 0), m: 1 + (i % 3) });
  }
  for (let s = 0; s < steps; s++) {
    for (const a of ps) {
      let f = new Vec(0, 0, 0);
      for (let j = 0; j < ps.length; j += 4) {
        const b = ps[j];
        if (a === b) continue;
        const d = b.p.add(a.p.scale(-1));
        const r = d.len() + 0.5;
        f = f.add(d.scale(b.m / (r * r * r)));
      }
      a.v = a.v.add(f.scale(0.01 / a.m));
    }
    for (const a of ps) a.p = a.p.add(a.v.scale(0.1));
  }
  let e = 0;
  for (const a of ps) e += 0.5 * a.m * a.v.dot(a.v);
  return e.toFixed(9);
}

// 2. Strings, regular expressions and JSON.
function textWork(n) {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  const parts = [];
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const w = words[seed % 8];
    parts.push(`${w}-${(seed >>> 8) % 1000}@${w.toUpperCase()}.example`);
  }
  const text = parts.join('; ');
  const re = /([a-z]+)-(\d{2,3})@([A-Z]+)\.example/g;
  let m, count = 0, sum = 0;
  while ((m = re.exec(text)) !== null) {
    count++;
    sum += Number(m[2]) * m[1].length;
  }
  const replaced = text.replace(/[aeiou]+/g, (v) => v.length.toString(36)).split(';').slice(0, 200).join('|');
  const obj = { count, sum, items: parts.slice(0, 300).map((p, i) => ({ i, p, k: p.length })) };
  const json = JSON.stringify(obj);
  const back = JSON.parse(json);
  return [count, sum, back.items.length, hashStr(2166136261, replaced), hashStr(2166136261, json)].join(',');
}

// 3. Arrays, sorting with comparators, Map and Set.
function collections(n) {
  const arr = [];
  let x = 7;
  for (let i = 0; i < n; i++) {
    x = (x * 48271) % 2147483647;
    arr.push({ id: i, key: x % 1000, name: 'n' + (x % 97) });
  }
  arr.sort((a, b) => a.key - b.key || a.id - b.id);
  const byName = new Map();
  for (const o of arr) {
    const list = byName.get(o.name);
    if (list) list.push(o.id); else byName.set(o.name, [o.id]);
  }
  const uniq = new Set(arr.map((o) => o.key));
  let h = 2166136261;
  for (const [k, v] of [...byName.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    h = hashStr(h, k + ':' + v.length + ':' + v.reduce((s, t) => (s + t) % 65536, 0));
  }
  const sorted = arr.slice(0, 50).map((o) => o.key).join(',');
  return [uniq.size, byName.size, h, hashStr(0, sorted)].join(',');
}

// 4. BigInt arithmetic.
function bigints(n) {
  let f = 1n;
  for (let i = 2n; i <= BigInt(n); i++) f *= i;
  let a = 0n, b = 1n;
  for (let i = 0; i < n * 4; i++) [a, b] = [b, a + b];
  const s = f.toString();
  return [s.length, s.slice(0, 20), (a % 1000000007n).toString(), (f % 998244353n).toString()].join(',');
}

// 5. Closures, generators, iterators, destructuring and promises.
function* primes() {
  const found = [];
  for (let c = 2; ; c++) {
    if (found.every((p) => p * p > c || c % p !== 0)) {
      found.push(c);
      yield c;
    }
  }
}

function control(n) {
  const adders = [];
  for (let i = 0; i < 100; i++) adders.push((v) => v + i * i);
  let acc = 0;
  for (let r = 0; r < n; r++) for (const f of adders) acc = f(acc) % 1000003;
  let ps = 0, cnt = 0;
  for (const p of primes()) {
    ps += p;
    if (++cnt >= n) break;
  }
  const { a, b: [c, ...rest], ...others } = { a: 1, b: [2, 3, 4], d: 5, e: 6 };
  let resolved = 0;
  const chain = [];
  for (let i = 0; i < 200; i++) chain.push(Promise.resolve(i).then((v) => v * 2).then((v) => { resolved += v; }));
  return { sync: [acc, ps, a, c, rest.length, Object.keys(others).join('')].join(','), done: Promise.all(chain).then(() => resolved) };
}

// 6. Typed arrays: sieve, and a checksum over a Float64Array.
function typed(n) {
  const sieve = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (sieve[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) sieve[j] = 1;
  }
  const f = new Float64Array(4096);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.001) * Math.exp(-i / 4096);
  let s = 0;
  for (let r = 0; r < 20; r++) for (let i = 0; i < f.length; i++) s += f[i] * f[(i * 7 + r) % f.length];
  const u = new Uint32Array(f.buffer, 0, 64);
  let h = 0;
  for (const w of u) h = (Math.imul(h ^ w, 2654435761) >>> 0);
  return [count, s.toFixed(10), h.toString(16), (1 / 3).toString(2).length, (123.456e-7).toExponential(5)].join(',');
}

const K = typeof SCALE === 'number' && SCALE > 0 ? SCALE : 1;
print('particles', particles(40 * K));
print('text', textWork(3000 * K));
print('collections', collections(8000 * K));
print('bigints', bigints(300 * K));
const ctl = control(600 * K);
print('control', ctl.sync);
ctl.done.then((v) => print('promises', v));
print('typed', typed(200000 * K));
