#!/usr/bin/env bash
# bench_side_by_side.sh runs the Go tokenizer benchmarks (../bench_test.go)
# and the Hugging Face library's (bench_hf.js) alternately, ROUNDS times,
# each run holding /tmp/memfit-bench.lock and one thread (GOMAXPROCS=1,
# RAYON_NUM_THREADS=1), and appends the raw output to OUT/go.txt and
# OUT/hf.txt. docs/benchmarks.md ("Tokenizers") reports their medians.
#
# Usage, with the npm package installed outside the repository:
#
#	npm install --prefix /work/tmp/hfnode tokenizers@0.23.2
#	NODE_PATH=/work/tmp/hfnode/node_modules \
#	  internal/tokenizer/testdata/bench_side_by_side.sh [ROUNDS [OUT]]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
out=${2:-/tmp/tokbench}
fixtures=$(cd ../../.. && pwd)/shared/fixtures
mkdir -p "$out"
go test -c -o "$out/tokenizer.test" .
for r in $(seq 1 "$rounds"); do
  echo "round $r" | tee -a "$out/go.txt" >>"$out/hf.txt"
  GOMAXPROCS=1 flock /tmp/memfit-bench.lock "$out/tokenizer.test" \
    -test.run '^$' -test.bench . -test.benchtime 3x | tee -a "$out/go.txt"
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false flock /tmp/memfit-bench.lock \
    node testdata/bench_hf.js "$fixtures" 3 | tee -a "$out/hf.txt"
done
