#!/usr/bin/env bash
# Tests the simulated cuBLAS and cuDNN that build.sh made (libs_selftest.cpp says what it checks): builds
# the self-test against them and the simulated driver, and runs it. Exits 0 when every check passes.
# Usage: libs-selftest.sh [OUT_DIR]   (default: target/cuda-sim, where the test build puts them;
# mvn -B -o package -DskipTests builds them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out_dir=$(cd "${1:-$root/target/cuda-sim}" 2>/dev/null && pwd) || {
  echo "libs-selftest: no ${1:-$root/target/cuda-sim}: build the libraries first (mvn -B -o package -DskipTests)" >&2
  exit 1
}
for f in libcuda.so.1 libcublas.so.13 libcudnn.so.9; do
  [ -f "$out_dir/$f" ] || { echo "libs-selftest: no $out_dir/$f: build the libraries first (mvn -B -o package -DskipTests)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CXX:-g++}" -std=c++17 -O1 -Wall -pthread -o "$work/libs-selftest" "$here/libs_selftest.cpp" \
  "$out_dir/libcublas.so.13" "$out_dir/libcudnn.so.9" "$out_dir/libcuda.so.1" -Wl,-rpath,"$out_dir"
"$work/libs-selftest"
