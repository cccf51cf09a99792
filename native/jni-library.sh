# Why this exists: the steps build-nvtx.sh and build-mpi.sh share to put a JNI library in the jar (where a
# platform's copy goes, the JNI headers, a compiler named by a variable or found on PATH, up to date or not).
# Sourced by them after they set: tool (their name in messages), what_without (what a run lacks without the
# library), library (its file name), out_dir and java_home.

# One notice, no library, and the build goes on.
skip() {
  echo "$tool: $1: $what_without"
  rm -f "${target:-}"
  exit 0
}

# The same platform names util/JarLibraries.java derives from os.name and os.arch.
case "$(uname -s)" in
  Linux) os=linux ;;
  *) target=""; skip "$(uname -s) is not supported (Linux only)" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) arch=$(uname -m) ;;
esac
target="$out_dir/native/$os-$arch/$library"

# find_compiler VAR CANDIDATE...: the compiler the variable VAR names (the only candidate when set, so that
# pointing it elsewhere is never silently overridden), else the first candidate on PATH; in $compiler.
find_compiler() {
  local var=$1
  shift
  compiler=""
  if [ -n "${!var:-}" ]; then
    compiler=$(command -v "${!var}" 2>/dev/null || true)
    [ -n "$compiler" ] || skip "the compiler \$$var=${!var} was not found"
  else
    for c in "$@"; do
      compiler=$(command -v "$c" 2>/dev/null || true)
      [ -z "$compiler" ] || break
    done
    [ -n "$compiler" ] || skip "no compiler (looked for \$$var and $* on PATH)"
  fi
}

# The JNI headers of the JDK that runs the build, in $jni.
find_jni() {
  jni=""
  for d in "$java_home/include" "$java_home/../include" "${JAVA_HOME:+$JAVA_HOME/include}"; do
    if [ -n "$d" ] && [ -f "$d/jni.h" ] && [ -f "$d/$os/jni_md.h" ]; then jni=$d; break; fi
  done
  [ -n "$jni" ] || skip "no JNI headers (looked for jni.h under $java_home/include and \$JAVA_HOME/include)"
}

# Whether the library is newer than the given sources and the calling script.
up_to_date() {
  [ -f "$target" ] && [ -z "$(find "$@" "$0" "${BASH_SOURCE[0]}" -newer "$target" | head -1)" ]
}
