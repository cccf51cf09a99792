#!/usr/bin/env bash
# Why this exists: JCublas2 and JCudnn's natives are linked against libcublas.so.12 and libcudnn.so.8 with versioned
# symbols, and the GPUs this project runs on have cuBLAS 13 and cuDNN 9; a symlink fails ("version `libcublas.so.12'
# not found"). For each, this builds a forwarding library (native/forwarder/forwarder.c) with the old soname and
# version node defining exactly the functions the JCuda native imports, each a jump through a table that
# org.reptilegen.engine.cuda.NvidiaLibraries fills from the library named at run time. It also puts JCudnn's native
# into the jar under the name jcuda's LibUtils looks for (libJCudnn-JCUDA_VERSION-linux-x86_64.so), since the newest
# JCudnn (11.7.0) is older than jcuda and no jar has that name.
# Usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR
#   writes CLASSES_DIR/native/linux-x86_64/libreptilegen-cublas.so and libreptilegen-cudnn.so, and
#   CLASSES_DIR/lib/libJCudnn-JCUDA_VERSION-linux-x86_64.so
# Without a C compiler ($CC, else cc or gcc), nm or the JNI headers, or off Linux x86-64, it prints one notice and
# succeeds (the lstm baseline's cuda path then says the forwarding libraries were not built); with them, a library
# that does not build, or does not define what the JCuda native imports, fails the build.
set -euo pipefail
out_dir=${1:?usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR}
java_home=${2:?usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR}
jcuda_version=${3:?usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR}
cublas_jar=${4:?usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR}
cudnn_jar=${5:?usage: build-forwarders.sh CLASSES_DIR JAVA_HOME JCUDA_VERSION JCUBLAS_NATIVES_JAR JCUDNN_NATIVES_JAR}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/native/forwarder/forwarder.c"

tool=build-forwarders
what_without="the jar has no forwarding libraries for cuBLAS and cuDNN, and the lstm baseline's cuda path says so"
library=libreptilegen-cublas.so
source "$root/native/jni-library.sh"
dir=$(dirname "$target")
targets=("$dir/libreptilegen-cublas.so" "$dir/libreptilegen-cudnn.so")
skip() {
  echo "$tool: $1: $what_without"
  rm -f "${targets[@]}"
  exit 0
}

# JCudnn's native under jcuda's version: LibUtils loads "/lib/" + "libJCudnn-" + JCudaVersion.get() + "-linux-x86_64.so"
# from the class path. It needs no compiler, so it is copied whatever follows.
[ -f "$cudnn_jar" ] || { echo "$tool: the JCudnn natives $cudnn_jar are missing (mvn dependency:resolve fetches them)" >&2; exit 1; }
jcudnn_target="$out_dir/lib/libJCudnn-$jcuda_version-linux-x86_64.so"
if [ ! -f "$jcudnn_target" ] || [ "$cudnn_jar" -nt "$jcudnn_target" ]; then
  copy=$(mktemp -d)
  (cd "$copy" && "$java_home/bin/jar" xf "$cudnn_jar")
  jcudnn=$(find "$copy/lib" -name 'libJCudnn-*-linux-x86_64.so' | head -1)
  [ -n "$jcudnn" ] || { echo "$tool: no lib/libJCudnn-*-linux-x86_64.so in $cudnn_jar" >&2; rm -rf "$copy"; exit 1; }
  mkdir -p "$(dirname "$jcudnn_target")"
  cp "$jcudnn" "$jcudnn_target"
  echo "$tool: $(basename "$jcudnn") -> $jcudnn_target"
  rm -rf "$copy"
fi

[ "$arch" = x86_64 ] || skip "the forwarders' jumps are x86-64 code and JCuda's natives here are linux-x86_64, this is $arch"
find_compiler CC cc gcc
cc=$compiler
nm=$(command -v "${NM:-nm}" 2>/dev/null || true)
[ -n "$nm" ] || skip "no nm (binutils) to list the functions JCuda's natives import"
find_jni
[ -f "$cublas_jar" ] || { echo "$tool: the JCublas natives $cublas_jar are missing (mvn dependency:resolve fetches them)" >&2; exit 1; }

flags=(-shared -fPIC -O2 -Wall -Wextra -Werror -fvisibility=hidden)
# Up to date when nothing that goes into them changed: the compiler, the flags, the sources, the JCuda natives.
stamp=$({ "$cc" --version | head -1; echo "${flags[*]}"; cat "$0" "$root/native/jni-library.sh" "$src"; sha256sum < "$cublas_jar"; sha256sum < "$cudnn_jar"; } | sha256sum | cut -c1-32)
stamp_file="$(dirname "$out_dir")/build-forwarders.stamp"
if [ -f "${targets[0]}" ] && [ -f "${targets[1]}" ] && [ "$(cat "$stamp_file" 2>/dev/null || true)" = "$stamp" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/jars" "$dir"
(cd "$work/jars" && "$java_home/bin/jar" xf "$cublas_jar" && "$java_home/bin/jar" xf "$cudnn_jar")

# forward NAME JNI_SUFFIX NATIVE_GLOB SONAME_PREFIX NOT_SUPPORTED: one forwarding library into $dir/libreptilegen-NAME.so.
forward() {
  local name=$1 suffix=$2 glob=$3 prefix=$4 status=$5
  local native out="$work/$name" soname count
  native=$(find "$work/jars/lib" -name "$glob" | head -1)
  [ -n "$native" ] || { echo "$tool: no lib/$glob in the JCuda natives" >&2; exit 1; }
  mkdir -p "$out"
  # The imports bound to a version of the library (cublasCreate_v2@libcublas.so.12): the version, also the soname.
  "$nm" -D --undefined-only "$native" | awk -v p="$prefix" '{ n = index($2, "@"); if (n > 0 && index(substr($2, n), "@" p) == 1) { v = substr($2, n); sub(/^@+/, "", v); print substr($2, 1, n - 1), v } }' | sort -u > "$out/imports"
  count=$(wc -l < "$out/imports")
  [ "$count" -gt 0 ] || { echo "$tool: $(basename "$native") imports no function of $prefix*" >&2; exit 1; }
  soname=$(awk '{ print $2 }' "$out/imports" | sort -u)
  [ "$(echo "$soname" | wc -l)" = 1 ] || { echo "$tool: $(basename "$native") imports from several versions: $(echo $soname)" >&2; exit 1; }
  # What a function returns while the bound library lacks it: a status, except these (see forwarder.c).
  awk '{ s = "status"
         if ($1 ~ /^(cublasGetStatusName|cublasGetStatusString|cudnnGetErrorString)$/) s = "string"
         if ($1 ~ /^(cublasGetCudartVersion|cudnnGetVersion|cudnnGetCudartVersion|cudnnGetMaxDeviceVersion)$/) s = "zero"
         printf "FORWARD(%d, %s, %s)\n", NR - 1, $1, s }' "$out/imports" > "$out/forwards.inc"
  {
    echo "$soname {"
    echo "  global:"
    awk '{ print "    " $1 ";" }' "$out/imports"
    echo "};"
    echo "REPTILEGEN_FORWARDER {"
    echo "  global:"
    for f in bind describe missing; do echo "    Java_org_reptilegen_engine_cuda_NvidiaLibraries_$f$suffix;"; done
    echo "  local:"
    echo "    *;"
    echo "};"
  } > "$out/forwards.map"
  "$cc" "${flags[@]}" -I "$jni" -I "$jni/$os" -I "$out" -DLIBRARY="$suffix" -DNOT_SUPPORTED="$status" \
    -DOLD_SONAME="\"$soname\"" -Wl,-soname,"$soname" -Wl,--version-script,"$out/forwards.map" -Wl,--no-undefined \
    -o "$out/lib.so" "$src" -ldl -lpthread
  # What JCuda's native will ask of it: every import defined under that version.
  local defined
  defined=$("$nm" -D --defined-only "$out/lib.so" | grep -c "@@$soname\$" || true)
  [ "$defined" = "$count" ] || { echo "$tool: libreptilegen-$name.so defines $defined functions @@$soname, $(basename "$native") imports $count" >&2; exit 1; }
  mv "$out/lib.so" "$dir/libreptilegen-$name.so"
  echo "$tool: $dir/libreptilegen-$name.so: soname $soname, $count functions of $(basename "$native")"
}

# The not-supported statuses: CUBLAS_STATUS_NOT_SUPPORTED = 15, cuDNN 8's CUDNN_STATUS_NOT_SUPPORTED = 9.
forward cublas Cublas "libJCublas2-*-linux-x86_64.so" libcublas.so. 15
forward cudnn Cudnn "libJCudnn-*-linux-x86_64.so" libcudnn.so. 9
echo "$stamp" > "$stamp_file"
