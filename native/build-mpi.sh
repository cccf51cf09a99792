#!/usr/bin/env bash
# Compiles the JNI shim over MPI (native/mpi/mpi.c) with the machine's mpicc into the jar, so train, eval, sample and bench run across ranks.
# Usage: build-mpi.sh CLASSES_DIR JAVA_HOME   (writes CLASSES_DIR/native/OS-ARCH/libreptilegen-mpi.so)
# Without mpicc ($MPICC, else mpicc on PATH) or the JNI headers it prints one notice and succeeds, and a run started
# by an MPI launcher says MPI support was not built; with both, a shim that does not compile fails the build.
set -euo pipefail
out_dir=${1:?usage: build-mpi.sh CLASSES_DIR JAVA_HOME}
java_home=${2:?usage: build-mpi.sh CLASSES_DIR JAVA_HOME}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/native/mpi/mpi.c"

# The same platform names Mpi.java derives from os.name and os.arch.
case "$(uname -s)" in
  Linux) os=linux ;;
  *) echo "build-mpi: $(uname -s) is not supported (Linux only): the jar has no MPI library"; exit 0 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) arch=$(uname -m) ;;
esac
target="$out_dir/native/$os-$arch/libreptilegen-mpi.so"

skip() {
  echo "build-mpi: $1: the jar has no MPI library and runs on one process (install an MPI with mpicc, e.g. apt-get install libopenmpi-dev, and rebuild)"
  rm -f "$target"
  exit 0
}

# An explicit MPICC is the only candidate, so that pointing it at a cluster's own MPI is never silently overridden.
mpicc=""
if [ -n "${MPICC:-}" ]; then
  mpicc=$(command -v "$MPICC" 2>/dev/null || true)
  [ -n "$mpicc" ] || skip "the MPI compiler \$MPICC=$MPICC was not found"
else
  mpicc=$(command -v mpicc 2>/dev/null || true)
  [ -n "$mpicc" ] || skip "no mpicc (looked for \$MPICC and mpicc on PATH)"
fi

jni=""
for d in "$java_home/include" "$java_home/../include" "${JAVA_HOME:+$JAVA_HOME/include}"; do
  if [ -n "$d" ] && [ -f "$d/jni.h" ] && [ -f "$d/$os/jni_md.h" ]; then jni=$d; break; fi
done
[ -n "$jni" ] || skip "no JNI headers (looked for jni.h under $java_home/include and \$JAVA_HOME/include)"

# Up to date when the library is newer than the shim's source and this script.
if [ -f "$target" ] && [ -z "$(find "$src" "$0" -newer "$target" | head -1)" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$target")"
"$mpicc" -shared -fPIC -O2 -Wall -Wextra -I "$jni" -I "$jni/$os" -o "$work/lib.so" "$src" -ldl
mv "$work/lib.so" "$target"
echo "build-mpi: $target ($("$mpicc" --showme:version 2>/dev/null || "$mpicc" -v 2>/dev/null | head -1 || echo "$mpicc"))"
