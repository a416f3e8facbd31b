#!/usr/bin/env bash
# bench_side_by_side.sh runs the Go tokenizer benchmarks (../bench_test.go)
# and the Hugging Face library's (bench_hf.js) one after the other, ROUNDS
# times, each round holding /tmp/memfit-bench.lock and both sides on one
# thread (GOMAXPROCS=1; RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false),
# and appends the raw output to OUT/go.txt and OUT/hf.txt. Each round runs
# every Go benchmark for 3 iterations and bench_hf.js with RUNS runs.
# docs/benchmarks.md ("Tokenizers") reports the medians over the rounds.
#
# Usage, with the npm package installed outside the repository:
#
#	npm install --prefix /work/tmp/hfnode tokenizers@0.23.2
#	NODE_PATH=/work/tmp/hfnode/node_modules \
#	  internal/tokenizer/testdata/bench_side_by_side.sh [ROUNDS [OUT [RUNS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
out=${2:-/tmp/tokbench}
runs=${3:-1}
fixtures=$(cd ../../.. && pwd)/shared/fixtures
mkdir -p "$out"
go test -c -o "$out/tokenizer.test" .
export GOMAXPROCS=1 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for r in $(seq 1 "$rounds"); do
  flock /tmp/memfit-bench.lock sh -c '
    echo "round $1" | tee -a "$2/go.txt" >>"$2/hf.txt"
    "$2/tokenizer.test" -test.run "^\$" -test.bench . -test.benchtime 3x | tee -a "$2/go.txt"
    node testdata/bench_hf.js "$3" "$4" | tee -a "$2/hf.txt"
  ' round "$r" "$out" "$fixtures" "$runs"
done
