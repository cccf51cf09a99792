#!/usr/bin/env bash
# Why this exists: the build checks the C and C++ side's format (kernels/*.cu, *.cuh, the simulated driver in
# src/test/cuda-sim and the forwarding libraries' native/forwarder/*.c) with clang-format 14 and the repository's
# .clang-format, as Spotless checks the Java. Other clang-format versions format some constructs differently, so
# with none or another version it says so in one line and checks nothing. `native/check-format.sh --apply` formats
# the files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cf="${CLANG_FORMAT:-clang-format}"
if ! command -v "$cf" > /dev/null 2>&1; then
    echo "check-format: no clang-format, the kernels' format is not checked (install clang-format 14)"
    exit 0
fi
version=$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$version" != "14" ]; then
    echo "check-format: clang-format $version found; the kernels are formatted with version 14, not checked"
    exit 0
fi
files=("$root"/kernels/*.cu "$root"/kernels/*.cuh "$root"/src/test/cuda-sim/*.cpp "$root"/src/test/cuda-sim/*.h "$root"/native/forwarder/*.c)
if [ "${1:-}" = "--apply" ]; then
    "$cf" -i --style=file "${files[@]}"
    echo "check-format: formatted ${#files[@]} files"
    exit 0
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
if ! "$cf" --dry-run -Werror --style=file "${files[@]}" 2> "$report"; then
    bad=$(grep -o '^[^:]*\.\(cu\|cuh\|cpp\|h\):' "$report" | sort -u | sed "s|$root/||; s|:$||" | tr '\n' ' ')
    echo "check-format: not formatted: $bad(native/check-format.sh --apply formats them)" >&2
    exit 1
fi
echo "check-format: ${#files[@]} C, C++ and CUDA files formatted"
