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

# The same platform names Nvtx.java derives from os.name and os.arch.
case "$(uname -s)" in
  Linux) os=linux ;;
  *) echo "build-nvtx: $(uname -s) is not supported (Linux only): the jar has no NVTX library"; exit 0 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) arch=$(uname -m) ;;
esac
target="$out_dir/native/$os-$arch/libreptilegen-nvtx.so"

skip() {
  echo "build-nvtx: $1: the jar has no NVTX library and profiles show no named ranges"
  rm -f "$target"
  exit 0
}

# An explicit CC is the only candidate, so that pointing it elsewhere is never silently overridden.
cc=""
if [ -n "${CC:-}" ]; then
  cc=$(command -v "$CC" 2>/dev/null || true)
  [ -n "$cc" ] || skip "the C compiler \$CC=$CC was not found"
else
  for c in cc gcc; do
    cc=$(command -v "$c" 2>/dev/null || true)
    [ -z "$cc" ] || break
  done
  [ -n "$cc" ] || skip "no C compiler (looked for \$CC, cc and gcc on PATH)"
fi

jni=""
for d in "$java_home/include" "$java_home/../include" "${JAVA_HOME:+$JAVA_HOME/include}"; do
  if [ -n "$d" ] && [ -f "$d/jni.h" ] && [ -f "$d/$os/jni_md.h" ]; then jni=$d; break; fi
done
[ -n "$jni" ] || skip "no JNI headers (looked for jni.h under $java_home/include and \$JAVA_HOME/include)"

# The NVTX headers ship with the CUDA toolkit: where CUDA_HOME says, next to the nvcc build-kernels.sh would use, or the default install.
nvcc=$(command -v nvcc 2>/dev/null || true)
nvtx=""
for d in "${CUDA_HOME:+$CUDA_HOME/include}" "${nvcc:+$(dirname "$nvcc")/../include}" /usr/local/cuda/include; do
  if [ -n "$d" ] && [ -f "$d/nvtx3/nvToolsExt.h" ]; then nvtx=$d; break; fi
done
[ -n "$nvtx" ] || skip "no NVTX headers (looked for nvtx3/nvToolsExt.h in \$CUDA_HOME/include, next to nvcc and in /usr/local/cuda/include)"

# Up to date when the library is newer than the shim's source and this script.
if [ -f "$target" ] && [ -z "$(find "$src" "$0" -newer "$target" | head -1)" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$target")"
"$cc" -shared -fPIC -O2 -Wall -Wextra -I "$jni" -I "$jni/$os" -I "$nvtx" -o "$work/lib.so" "$src" -ldl
mv "$work/lib.so" "$target"
echo "build-nvtx: $target (NVTX headers from $nvtx)"
