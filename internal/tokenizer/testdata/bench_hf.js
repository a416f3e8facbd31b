// bench_hf.js measures the Hugging Face tokenizers library (Rust, through
// its official Node binding, npm package "tokenizers") on the same inputs
// as the Go benchmarks in ../bench_test.go: encoding net_http_server.go
// repeated and cut to 4 MiB, in one call, and loading tokenizer.json.
//
// Usage (install the package outside the repository):
//
//	npm install --prefix /tmp/hfbench tokenizers@0.23.2
//	RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false \
//	  NODE_PATH=/tmp/hfbench/node_modules node bench_hf.js ../../../../shared/fixtures [runs]
//
// It prints one line per run and the median of each measurement.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const fixtures = process.argv[2];
const runs = Number(process.argv[3] || 5);
if (!fixtures) {
  console.error('usage: node bench_hf.js FIXTURES_DIR [runs]');
  process.exit(2);
}

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

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const text = benchText();
  const bytes = Buffer.byteLength(text);
  for (const name of ['llama3', 'gemma3']) {
    const file = path.join(fixtures, 'tokenizers', name, 'tokenizer.json');
    const loads = [];
    let tok;
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      tok = Tokenizer.fromFile(file);
      loads.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    await tok.encode('warm up', null, { addSpecialTokens: false });
    const speeds = [];
    let ntok = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const enc = await tok.encode(text, null, { addSpecialTokens: false });
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      ntok = enc.getIds().length;
      speeds.push(bytes / dt / 1e6);
      console.log(`${name} run ${i}: load ${loads[i].toFixed(3)} s, encode ${dt.toFixed(3)} s = ${(bytes / dt / 1e6).toFixed(2)} MB/s`);
    }
    console.log(`${name}: ${bytes} bytes -> ${ntok} tokens; median load ${median(loads).toFixed(3)} s; median encode ${median(speeds).toFixed(2)} MB/s`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
