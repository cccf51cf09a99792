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

tool=build-mpi
what_without="the jar has no MPI library and runs on one process (install an MPI with mpicc, e.g. apt-get install libopenmpi-dev, and rebuild)"
library=libreptilegen-mpi.so
source "$root/native/jni-library.sh"
find_compiler MPICC mpicc
mpicc=$compiler
find_jni

if up_to_date "$src"; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$target")"
"$mpicc" -shared -fPIC -O2 -Wall -Wextra -I "$jni" -I "$jni/$os" -o "$work/lib.so" "$src" -ldl
mv "$work/lib.so" "$target"
echo "build-mpi: $target ($("$mpicc" --showme:version 2>/dev/null || "$mpicc" -v 2>/dev/null | head -1 || echo "$mpicc"))"
