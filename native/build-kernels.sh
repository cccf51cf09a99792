#!/usr/bin/env bash
# Compiles every kernels/*.cu into one fatbin inside the jar, so the cuda backend needs no compiler where it runs.
# Usage: build-kernels.sh CLASSES_DIR   (writes CLASSES_DIR/kernels/reptile-gen.fatbin)
# Without nvcc it prints one notice and succeeds; with nvcc, a kernel that does not compile fails the build.
# KERNELS_PTXAS_VERBOSE=1 prints ptxas' register and spill report.
set -euo pipefail
out_dir=${1:?usage: build-kernels.sh CLASSES_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/kernels"
target="$out_dir/kernels/reptile-gen.fatbin"

nvcc=""
for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc 2>/dev/null || true)" /usr/local/cuda/bin/nvcc; do
  if [ -n "$c" ] && [ -x "$c" ]; then nvcc=$c; break; fi
done
if [ -z "$nvcc" ]; then
  echo "build-kernels: nvcc not found (looked in \$CUDA_HOME/bin, PATH, /usr/local/cuda/bin): the jar has no kernels and the cuda backend will say so"
  rm -f "$target"
  exit 0
fi

# Up to date when the fatbin is newer than every kernel source and this script.
if [ -f "$target" ]; then
  newer=$(find "$src" "$0" -newer "$target" \( -name '*.cu' -o -name '*.cuh' -o -name "$(basename "$0")" \) | head -1)
  if [ -z "$newer" ]; then exit 0; fi
fi

# SASS for the data-center and desktop architectures this nvcc knows, PTX for the newest of them
# so that later GPUs can still JIT the kernels.
codes=$("$nvcc" --list-gpu-code 2>/dev/null | tr '\n' ' ')
gencode=()
newest=""
for a in 75 80 86 89 90 100 120; do
  case " $codes " in
    *" sm_$a "*) gencode+=("-gencode" "arch=compute_$a,code=sm_$a"); newest=$a ;;
  esac
done
if [ -z "$newest" ]; then
  echo "build-kernels: $nvcc supports none of sm_75 sm_80 sm_86 sm_89 sm_90 sm_100 sm_120 (it lists: $codes)" >&2
  exit 1
fi
gencode+=("-gencode" "arch=compute_$newest,code=compute_$newest")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unit="$work/reptile-gen.cu"
for f in "$src"/*.cu; do echo "#include \"$f\"" >> "$unit"; done

verbose=()
if [ "${KERNELS_PTXAS_VERBOSE:-0}" = 1 ]; then verbose=("-Xptxas" "-v"); fi

mkdir -p "$(dirname "$target")"
start=$(date +%s)
"$nvcc" -fatbin -O3 -lineinfo --threads 0 -I "$src" "${gencode[@]}" ${verbose[@]+"${verbose[@]}"} -o "$work/out.fatbin" "$unit"
mv "$work/out.fatbin" "$target"
archs=$(printf '%s ' "${gencode[@]}" | grep -o 'code=[a-z_0-9]*' | sed 's/code=//' | tr '\n' ' ')
echo "build-kernels: $(ls "$src"/*.cu | wc -l) kernel files -> $target for ${archs% } in $(( $(date +%s) - start )) s"
