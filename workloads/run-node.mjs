// Run a wasm32-wasi command module under node's WASI (preview1).
//
//   node workloads/run-node.mjs [--time] MODULE.wasm [ARGS...]
//
// Exits with the module's exit code. A wasm trap prints
// "Exception: <message>" on stderr, with V8's message translated into
// WAMR's wording where they differ (so the same expected text works for
// both engines; V8's own text follows in parentheses), and exits with 1,
// as the project's iwasm front end does.
// --time prints "time: compile=<s> run=<s>" on stderr.
// Experimental-warning noise is suppressed.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import process from 'node:process';

process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') console.error(w);
});

const { WASI } = await import('node:wasi');

// V8 trap messages -> WAMR exception texts.
const V8_TO_WAMR = [
  [/memory access out of bounds/, 'out of bounds memory access'],
  [/divide by zero/, 'integer divide by zero'],
  [/remainder by zero/, 'integer divide by zero'],
  [/float unrepresentable in integer range/, 'invalid conversion to integer'],
  [/divide result unrepresentable/, 'integer overflow'],
  [/unreachable/, 'unreachable'],
  [/table index is out of bounds/, 'undefined element'],
  [/null function or function signature mismatch/, 'indirect call type mismatch'],
  [/Maximum call stack size exceeded/, 'native stack overflow'],
];

let argv = process.argv.slice(2);
let timing = false;
if (argv[0] === '--time') {
  timing = true;
  argv = argv.slice(1);
}
if (argv.length < 1) {
  console.error('usage: run-node.mjs [--time] MODULE.wasm [ARGS...]');
  process.exit(2);
}
const [path, ...args] = argv;

const wasi = new WASI({
  version: 'preview1',
  args: [basename(path), ...args],
  env: {},
  preopens: { '/tmp': '/tmp' },
  returnOnExit: true,
});

const t0 = process.hrtime.bigint();
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const t1 = process.hrtime.bigint();
let code;
try {
  code = wasi.start(instance);
} catch (e) {
  const t2 = process.hrtime.bigint();
  if (timing) report(t1 - t0, t2 - t1);
  const msg = e && e.message ? e.message : String(e);
  const wamr = V8_TO_WAMR.find(([re]) => re.test(msg));
  console.error(wamr ? `Exception: ${wamr[1]} (${msg})` : `Exception: ${msg}`);
  process.exit(1);
}
const t2 = process.hrtime.bigint();
if (timing) report(t1 - t0, t2 - t1);
process.exitCode = code ?? 0;

function report(c, r) {
  const s = (ns) => (Number(ns) / 1e9).toFixed(3);
  console.error(`time: compile=${s(c)} run=${s(r)}`);
}
