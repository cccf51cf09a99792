#!/usr/bin/env bash
# Compiles every kernels/*.cu into one fatbin inside the jar, so the cuda backend needs no compiler where it runs.
# Usage: build-kernels.sh CLASSES_DIR   (writes CLASSES_DIR/kernels/reptile-gen.fatbin)
# Without nvcc it prints one notice and succeeds; with nvcc, a kernel that does not compile fails the build.
# ptxas reports spills and local memory; a kernel spilling more than native/kernel-spills.txt lists fails
# the build. KERNELS_PTXAS_VERBOSE=1 prints ptxas' whole register and spill report.
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
  rm -f "$target" "$target.archs"
  exit 0
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

# Up to date when nothing that goes into the fatbin changed: the sources, this script, the spill
# baseline, nvcc's version and the architectures it builds for.
spills_file="$root/native/kernel-spills.txt"
stamp=$({ "$nvcc" --version; echo "${gencode[*]}"; cat "$0" "$spills_file" "$src"/*.cu "$src"/*.cuh; } | sha256sum | cut -c1-32)
stamp_file="$(dirname "$out_dir")/build-kernels.stamp"
if [ -f "$target" ] && [ -f "$target.archs" ] && [ "$(cat "$stamp_file" 2>/dev/null || true)" = "$stamp" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unit="$work/reptile-gen.cu"
for f in "$src"/*.cu; do echo "#include \"$f\"" >> "$unit"; done

ptxas="-warn-spills,-warn-lmem-usage"
if [ "${KERNELS_PTXAS_VERBOSE:-0}" = 1 ]; then ptxas="$ptxas,-v"; fi

mkdir -p "$(dirname "$target")"
start=$(date +%s)
log="$work/nvcc.log"
if ! "$nvcc" -fatbin -O3 -lineinfo --threads 0 -I "$src" "${gencode[@]}" -Xptxas "$ptxas" -o "$work/out.fatbin" "$unit" 2> "$log"; then
  cat "$log" >&2
  exit 1
fi
# The whole report when asked for; otherwise anything but ptxas' spill and local-memory lines (summed up below).
if [ "${KERNELS_PTXAS_VERBOSE:-0}" = 1 ]; then
  cat "$log"
else
  grep -v -e 'Registers are spilled to local memory' -e 'Local memory used for function' "$log" || true
fi

# Spills against the baseline: the most bytes of spill stores of each kernel over the architectures.
sed -n "s/.*Registers are spilled to local memory in function '\([A-Za-z0-9_]*\)', \([0-9]*\) bytes spill stores.*/\1 \2/p" "$log" \
  | awk '{ if ($2 > m[$1]) m[$1] = $2 } END { for (f in m) print f, m[f] }' | sort > "$work/spills"
grep -v '^#' "$spills_file" | awk 'NF == 2' | sort > "$work/baseline"
worse=$(awk 'NR == FNR { base[$1] = $2; next } { b = ($1 in base) ? base[$1] : 0; if ($2 > b) printf "%s spills %s bytes (at most %s before); ", $1, $2, b }' "$work/baseline" "$work/spills")
if [ -n "$worse" ]; then
  echo "build-kernels: ${worse%; }; see $spills_file (lower registers, or raise the number there with the reason in the commit)" >&2
  exit 1
fi
better=$(awk 'NR == FNR { now[$1] = $2; next } { n = ($1 in now) ? now[$1] : 0; if (n < $2) printf "%s now spills %s bytes (%s listed); ", $1, n, $2 }' "$work/spills" "$work/baseline")
if [ -n "$better" ]; then echo "build-kernels: fewer spills than $spills_file lists: ${better%; }: lower the numbers there"; fi
lmem=$(sed -n "s/.*Local memory used for function '\([A-Za-z0-9_]*\)'.*/\1/p" "$log" | sort -u | tr '\n' ' ')

mv "$work/out.fatbin" "$target"
echo "$stamp" > "$stamp_file"
archs=$(printf '%s ' "${gencode[@]}" | grep -o 'code=[a-z_0-9]*' | sed 's/code=//' | tr '\n' ' ')
# What the fatbin holds, for `reptile-gen doctor` (does it cover this GPU?).
echo "${archs% }" > "$target.archs"
echo "build-kernels: $(ls "$src"/*.cu | wc -l) kernel files -> $target for ${archs% } in $(( $(date +%s) - start )) s; spills: $(awk '{ printf "%s%s %s bytes", (NR > 1 ? ", " : ""), $1, $2 } END { if (NR == 0) printf "none" }' "$work/spills")${lmem:+; stack frames in ${lmem% }}"
