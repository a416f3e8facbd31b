// bench_hf.js measures the Hugging Face tokenizers library (Rust, through
// its official Node binding, npm package "tokenizers") on the same inputs
// as the Go benchmarks in ../bench_test.go: loading tokenizer.json, and
// encoding net_http_server.go repeated and cut to 4 MiB, as one string in
// one call, without the post-processor (as the Go benchmarks).
//
// Usage (install the package outside the repository):
//
//	npm install --prefix /work/tmp/hfnode tokenizers@0.23.2
//	RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false \
//	  NODE_PATH=/work/tmp/hfnode/node_modules \
//	  node bench_hf.js FIXTURES_DIR [runs] [names]
//
// FIXTURES_DIR is ../shared/fixtures from the repository root; names is a
// comma-separated list of tokenizer folders (default
// llama3,gemma3,qwen3,mistral). Each tokenizer is loaded runs times and
// the text encoded runs times with the last one loaded; the first encode
// follows only a short warm-up, so its word cache starts cold, as the Go
// benchmark's first iteration does.
//
// It prints one line per run and the medians, of wall time and of the
// process's CPU time (user+system, all threads: process.cpuUsage). With the environment
// variable DUMP_IDS=DIR it also writes each tokenizer's ids of the text to
// DIR/NAME.ids (one decimal id per line), for comparison with memfit's.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const fixtures = process.argv[2];
const runs = Number(process.argv[3] || 5);
const names = (process.argv[4] || 'llama3,gemma3,qwen3,mistral').split(',');
if (!fixtures || !(runs >= 1)) {
  console.error('usage: node bench_hf.js FIXTURES_DIR [runs] [names]');
  process.exit(2);
}

// benchText builds the Go benchmark's text: the file repeated and cut to
// 4 MiB, then shortened to the last whole UTF-8 character.
function benchText() {
  const data = fs.readFileSync(path.join(fixtures, 'text', 'net_http_server.go'));
  const size = 4 << 20;
  const parts = [];
  for (let n = 0; n <= size; n += data.length) parts.push(data);
  let buf = Buffer.concat(parts).subarray(0, size);
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (;;) {
    try {
      return dec.decode(buf);
    } catch (e) {
      buf = buf.subarray(0, buf.length - 1);
    }
  }
}

// cpuSeconds converts a process.cpuUsage() difference (user+system, all
// threads) to seconds.
function cpuSeconds(u) {
  return (u.user + u.system) / 1e6;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const text = benchText();
  const bytes = Buffer.byteLength(text);
  const pkg = require('tokenizers/package.json');
  console.log(`tokenizers ${pkg.version}, node ${process.version}, RAYON_NUM_THREADS=${process.env.RAYON_NUM_THREADS}`);
  for (const name of names) {
    const file = path.join(fixtures, 'tokenizers', name, 'tokenizer.json');
    const loads = [];
    const loadCPU = [];
    let tok;
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      tok = Tokenizer.fromFile(file);
      loads.push(Number(process.hrtime.bigint() - t0) / 1e9);
      loadCPU.push(cpuSeconds(process.cpuUsage(c0)));
    }
    await tok.encode('warm up', null, { addSpecialTokens: false });
    const speeds = [];
    const encCPU = [];
    let ids = [];
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const enc = await tok.encode(text, null, { addSpecialTokens: false });
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      encCPU.push(cpuSeconds(process.cpuUsage(c0)));
      ids = enc.getIds();
      speeds.push(bytes / dt / 1e6);
      console.log(`${name} run ${i}: load ${loads[i].toFixed(3)} s (cpu ${loadCPU[i].toFixed(3)} s), encode ${dt.toFixed(3)} s (cpu ${encCPU[i].toFixed(3)} s) = ${(bytes / dt / 1e6).toFixed(3)} MB/s`);
    }
    console.log(`${name}: ${bytes} bytes -> ${ids.length} tokens; median load ${median(loads).toFixed(3)} s (cpu ${median(loadCPU).toFixed(3)} s); median encode ${median(speeds).toFixed(3)} MB/s (cpu ${median(encCPU).toFixed(3)} s)`);
    if (process.env.DUMP_IDS) {
      fs.writeFileSync(path.join(process.env.DUMP_IDS, name + '.ids'), ids.join('\n') + '\n');
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
