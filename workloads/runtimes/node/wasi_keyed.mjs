// Runs a wasm32-wasi module under node's WASI like workloads/run-node.mjs,
// then reports on stderr how many pages of this process carry each
// protection key (from /proc/self/smaps), so the V8 comparison can state
// V8's own exposure: with --wasm-memory-protection-keys, V8 keys its whole
// wasm code space with one key, and opening it for one write makes every
// page under that key writable.
//
//   node [--[no-]wasm-memory-protection-keys] wasi_keyed.mjs MODULE.wasm [ARGS...]
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import process from 'node:process';

process.removeAllListeners('warning');
const { WASI } = await import('node:wasi');
const [path, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [path, ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const code = wasi.start(instance);

const pages = new Map();
let size = 0;
for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
  let m = line.match(/^Size:\s+(\d+) kB/);
  if (m) size = Number(m[1]) / 4;
  m = line.match(/^ProtectionKey:\s+(\d+)/);
  if (m && m[1] !== '0') pages.set(m[1], (pages.get(m[1]) || 0) + size);
}
for (const [key, n] of pages) console.error(`keyed pages: key ${key} pages ${n}`);
process.exitCode = code;
