#!/usr/bin/env bash
# Compiles the JNI shim over NVTX (header-only) into the jar, so Nsight timelines show the engine's phases by name.
# Usage: build-nvtx.sh CLASSES_DIR JAVA_HOME   (writes CLASSES_DIR/native/OS-ARCH/libreptilegen-nvtx.so)
# Without a C compiler ($CC, else cc or gcc), the JNI headers or the NVTX headers it prints one notice and
# succeeds, and the engine runs without ranges; with all three, a shim that does not compile fails the build.
set -euo pipefail
out_dir=${1:?usage: build-nvtx.sh CLASSES_DIR JAVA_HOME}
java_home=${2:?usage: build-nvtx.sh CLASSES_DIR JAVA_HOME}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/native/nvtx.c"

tool=build-nvtx
what_without="the jar has no NVTX library and profiles show no named ranges"
library=libreptilegen-nvtx.so
source "$root/native/jni-library.sh"
find_compiler CC cc gcc
cc=$compiler
find_jni

# The NVTX headers ship with the CUDA toolkit: where CUDA_HOME says, next to the nvcc build-kernels.sh would use, or the default install.
nvcc=$(command -v nvcc 2>/dev/null || true)
nvtx=""
for d in "${CUDA_HOME:+$CUDA_HOME/include}" "${nvcc:+$(dirname "$nvcc")/../include}" /usr/local/cuda/include; do
  if [ -n "$d" ] && [ -f "$d/nvtx3/nvToolsExt.h" ]; then nvtx=$d; break; fi
done
[ -n "$nvtx" ] || skip "no NVTX headers (looked for nvtx3/nvToolsExt.h in \$CUDA_HOME/include, next to nvcc and in /usr/local/cuda/include)"

if up_to_date "$src"; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$target")"
"$cc" -shared -fPIC -O2 -Wall -Wextra -I "$jni" -I "$jni/$os" -I "$nvtx" -o "$work/lib.so" "$src" -ldl
mv "$work/lib.so" "$target"
echo "build-nvtx: $target (NVTX headers from $nvtx)"
