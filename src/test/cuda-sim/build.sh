#!/usr/bin/env bash
# Builds the simulated CUDA driver (libcuda.so.1 running kernels/*.cu on the host, see driver.cpp), so
# the cuda engine's tests run on machines without a GPU, and next to it the simulated cuBLAS and cuDNN
# (libcublas.so.13, libcudnn.so.9: cublas.cpp, cudnn.cpp) that check their operands through it. The test
# build calls it; so can a developer. libs-selftest.sh tests the two libraries.
# Usage: build.sh OUT_DIR JAVA_HOME JCUDA_NATIVES_JAR   (writes those three libraries into OUT_DIR)
# Without a C++ compiler ($CXX, else g++ or c++), nm or the JNI headers it prints one notice and succeeds
# (the gpu tests then say the simulated driver was not built); with them, a failure fails the build.
set -euo pipefail
out_dir=${1:?usage: build.sh OUT_DIR JAVA_HOME JCUDA_NATIVES_JAR}
java_home=${2:?usage: build.sh OUT_DIR JAVA_HOME JCUDA_NATIVES_JAR}
natives=${3:?usage: build.sh OUT_DIR JAVA_HOME JCUDA_NATIVES_JAR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
kernels="$root/kernels"
target="$out_dir/libcuda.so.1"
libraries=(libcublas.so.13 libcudnn.so.9)

skip() {
  echo "cuda-sim: $1: the simulated CUDA driver is not built, and the gpu tests cannot run without a GPU"
  rm -f "$target" "${libraries[@]/#/$out_dir/}"
  exit 0
}

case "$(uname -s)" in
  Linux) ;;
  *) skip "$(uname -s) is not supported (Linux only)" ;;
esac

cxx=""
if [ -n "${CXX:-}" ]; then
  cxx=$(command -v "$CXX" 2>/dev/null || true)
  [ -n "$cxx" ] || skip "the C++ compiler \$CXX=$CXX was not found"
else
  for c in g++ c++; do
    cxx=$(command -v "$c" 2>/dev/null || true)
    [ -z "$cxx" ] || break
  done
  [ -n "$cxx" ] || skip "no C++ compiler (looked for \$CXX, g++ and c++ on PATH)"
fi
nm=$(command -v nm 2>/dev/null || true)
[ -n "$nm" ] || skip "no nm (binutils) to list the driver functions JCuda imports"
jni=""
for d in "$java_home/include" "$java_home/../include" "${JAVA_HOME:+$JAVA_HOME/include}"; do
  if [ -n "$d" ] && [ -f "$d/jni.h" ] && [ -f "$d/linux/jni_md.h" ]; then jni=$d; break; fi
done
[ -n "$jni" ] || skip "no JNI headers (looked for jni.h under $java_home/include and \$JAVA_HOME/include)"
[ -f "$natives" ] || skip "the JCuda natives $natives are missing"

flags=(-std=c++17 -O2 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -ffp-contract=off -pthread -Wall -Wno-unused-function -Wno-unused-variable -Wno-unknown-pragmas)
# The fibers switch stacks without the shadow stack that -fcf-protection may turn on.
case "$(uname -m)" in x86_64|amd64) flags+=(-fcf-protection=none) ;; esac

# Up to date when nothing that goes into it changed.
stamp_of() {
  {
    "$cxx" --version | head -1
    echo "${flags[*]} $natives"
    cat "$0" "$here"/*.h "$here"/*.cpp "$kernels"/*.cu "$kernels"/*.cuh
  } | sha256sum | cut -c1-32
}
stamp=$(stamp_of)
built=1
for f in "$target" "${libraries[@]/#/$out_dir/}"; do [ -f "$f" ] || built=0; done
if [ "$built" = 1 ] && [ "$(cat "$out_dir/stamp" 2>/dev/null || true)" = "$stamp" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# kernels.inc: every kernel file, and every kernel with the __launch_bounds__ it is declared with.
{
  for f in "$kernels"/*.cu; do echo "#include \"$f\""; done
  printf '#define SIM_KERNEL_LIST(K)'
  cat "$kernels"/*.cu | perl -0777 -ne '
    while (/extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\(([^()]*)\)\s*)?(\w+)\s*\(/g) {
      print " K($2, (" . (defined $1 ? $1 : "") . "))";
    }'
  echo
} > "$work/kernels.inc"
grep -q 'K(' "$work/kernels.inc" || { echo "cuda-sim: no kernels found in $kernels" >&2; exit 1; }

# stubs.inc: the driver functions JCuda's native library imports.
mkdir -p "$work/jcuda"
(cd "$work/jcuda" && "$java_home/bin/jar" xf "$natives")
lib=$(find "$work/jcuda" -name 'libJCudaDriver-*.so' | head -1)
[ -n "$lib" ] || { echo "cuda-sim: no libJCudaDriver in $natives" >&2; exit 1; }
"$nm" -D --undefined-only "$lib" | awk '$2 ~ /^cu[A-Z]/ { print "SIM_STUB(" $2 ")" }' > "$work/stubs.inc"

for src in kernels block driver stubs cublas cudnn cudnn_lstm; do
  "$cxx" "${flags[@]}" -I "$work" -I "$here" -I "$kernels" -I "$jni" -I "$jni/linux" -c "$here/$src.cpp" -o "$work/$src.o" &
done
for job in $(jobs -p); do wait "$job"; done
mkdir -p "$out_dir"
"$cxx" -shared -pthread -Wl,-soname,libcuda.so.1 -o "$work/libcuda.so.1" "$work"/{kernels,block,driver,stubs}.o
# The libraries need the driver's hooks (sim_lib.h) at load, not at their first call: bound now, and
# found next to them, or as the libcuda.so.1 the process has loaded already.
library() {
  "$cxx" -shared -pthread -Wl,-soname,"$1" -Wl,-z,now -Wl,--no-undefined -Wl,-rpath,'$ORIGIN' \
    -o "$work/$1" "${@:2}" "$work/libcuda.so.1"
}
library libcublas.so.13 "$work/cublas.o"
library libcudnn.so.9 "$work/cudnn.o" "$work/cudnn_lstm.o"
for f in libcuda.so.1 "${libraries[@]}"; do mv "$work/$f" "$out_dir/$f"; done
echo "$stamp" > "$out_dir/stamp"
echo "cuda-sim: $(grep -o 'K(' "$work/kernels.inc" | wc -l) kernels, $(wc -l < "$work/stubs.inc") driver entry points -> $target, and ${libraries[*]} in $(( $(date +%s) - start )) s"
