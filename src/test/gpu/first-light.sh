#!/usr/bin/env bash
# First light on a GPU in one call: the checks README's Status lists as owed on a GPU, each with its log,
# so that a short time on a machine with a GPU (and no Java or Maven of its own) yields every number at once.
# Runs the project from a self-contained folder G holding a Java runtime (G/bin/java), the jar and its
# dependencies (G/lib), the test classes (G/test-classes) and JUnit's console launcher (G/junit-console.jar).
# Usage, from the project root:  bash src/test/gpu/first-light.sh G OUT [SECONDS] [MNIST]
# Writes OUT/summary.txt (one line per step: name, exit status, seconds) and OUT/NAME.log per step; steps
# run in order of value and are skipped once SECONDS (default 480) have passed. With MNIST (a directory of
# MNIST-format IDX files) the time left at the end trains mnist-lstm with Reptile and with MAML and the
# lstm baseline for equal wall time each, then scores each on 500 held-out digits and samples it. Exits 0.
set -uo pipefail
g=$(cd "${1:?usage: first-light.sh G OUT [SECONDS] [MNIST]}" && pwd)
out=${2:?usage: first-light.sh G OUT [SECONDS] [MNIST]}
budget=${3:-480}
mnist=${4:-}
mkdir -p "$out"
start=$(date +%s)
java=("$g/bin/java" -cp "$g/lib/*" org.reptilegen.cli.Main)
summary="$out/summary.txt"
: > "$summary"

# step NAME TIMEOUT COMMAND...: runs COMMAND with its output in OUT/NAME.log, unless the budget is spent.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - start)))
  if [ "$left" -le 10 ]; then
    echo "$name skipped (budget spent)" >> "$summary"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s" >> "$summary"
}

step machine 20 bash -c 'nvidia-smi; nvidia-smi -q -d CLOCK,MEMORY | head -60; nvcc --version; which ncu compute-sanitizer'
step doctor 180 "${java[@]}" doctor --run --require-gpu
# The gpu tests, each class in its own JVM; then the row-split and folding tests five times more, since bits
# that differ between runs are a race.
cp="$g/test-classes"
for j in "$g"/lib/*.jar; do cp="$cp:$j"; done
junit=("$g/bin/java" -jar "$g/junit-console.jar" execute -cp "$cp" --include-tag gpu --details=tree --disable-banner --disable-ansi-colors)
for f in $(grep -rl '@Tag("gpu")' src/test/java | sort); do
  c=$(basename "$f" .java)
  step "test-$c" 180 "${junit[@]}" --scan-classpath "$g/test-classes" --include-classname ".*\\.$c"
done
bench=("${java[@]}" bench --backend cuda --repeats 5)
step bench-mnist-lstm-batch 150 "${bench[@]}" --config mnist-lstm-reptile --batch 8,50,256 --inner-steps 64 --graphs on,off
step bench-mnist-lstm-variants 150 "${bench[@]}" --config mnist-lstm-reptile --batch 50 --inner-steps 64 --row-splits 1,3,4,auto --fold-small-layers on,off
step bench-mnist-lstm-algorithms 150 "${bench[@]}" --config mnist-lstm-reptile --batch 50 --inner-steps 64 --algo fomaml,maml
step bench-text-mlp 90 "${bench[@]}" --config text-mlp-reptile --batch 50
step bench-baseline 120 "${bench[@]}" --config mnist-lstm-baseline --batch 8,50
races=org.reptilegen.engine.cuda.CudaEngineGpuTest
for i in 1 2 3 4 5; do
  step "test-races-$i" 120 "${junit[@]}" --select-method "$races#rowSplitsMatchTheCpuAndRepeatBitForBit" \
    --select-method "$races#foldedSmallLayersMatchTheirOwnKernelsBitForBit"
done
tiny=("${java[@]}" bench --backend cuda --config tiny-mnist --batch 2 --inner-steps 4 --repeats 1 --graphs off)
if command -v compute-sanitizer > /dev/null; then
  for tool in memcheck racecheck synccheck; do
    step "sanitizer-$tool" 120 compute-sanitizer --tool "$tool" --target-processes all "${tiny[@]}"
  done
fi
if command -v ncu > /dev/null; then
  step ncu-lstm-backward 180 ncu --kernel-name lstm_block_backward_update --launch-count 1 --set full \
    "${java[@]}" bench --backend cuda --config mnist-lstm-reptile --batch 50 --inner-steps 4 --repeats 1 --graphs off
fi
# Equal wall time for the three models, each a third of what is left after a minute and a half for
# start-up, evaluation and sampling (at most 3 minutes each, and none under 30 s).
if [ -n "$mnist" ]; then
  each=$(( (budget - ($(date +%s) - start) - 90 * 3) / 3 ))
  [ "$each" -gt 180 ] && each=180
  if [ "$each" -ge 30 ]; then
    runs=$(mktemp -d)
    for c in mnist-lstm-reptile mnist-lstm-maml mnist-lstm-baseline; do
      step "train-$c" $((each + 90)) "${java[@]}" train --backend cuda --config "$c" --data "$mnist" \
        --time-limit "${each}s" --set eval_tasks=0 --out "$runs/$c"
      step "eval-$c" 60 "${java[@]}" eval --backend cuda --checkpoint "$runs/$c/checkpoint.safetensors" --tasks 500
      step "sample-$c" 30 "${java[@]}" sample --backend cuda --checkpoint "$runs/$c/checkpoint.safetensors" \
        --count 16 --out "$out/samples-$c.png"
      cp "$runs/$c/metrics.jsonl" "$out/metrics-$c.jsonl" 2> /dev/null
    done
  else
    echo "equal-time comparison skipped (budget spent)" >> "$summary"
  fi
fi
echo "total $(( $(date +%s) - start ))s" >> "$summary"
cat "$summary"
