#!/bin/sh
# Compiles C programs to WebAssembly (wasm32-wasi) for the jar; called by Maven (antrun).
#   build-wasm.sh tools SRC_ROOT OUT_DIR   each SRC_ROOT/<name>/ holding *.c and manifest.json
#                                          gives OUT_DIR/<name>.wasm and OUT_DIR/<name>.json,
#                                          and OUT_DIR/tools.list names the tools built
#   build-wasm.sh files SRC_DIR OUT_DIR    each SRC_DIR/<name>.c gives OUT_DIR/<name>.wasm
# Never fails the build: when clang, wasm-ld (lld), wasi-libc or the wasm32 compiler-rt are
# missing, or a program does not compile, it writes OUT_DIR/unavailable (or
# OUT_DIR/<name>.unavailable) holding the reason, prints it, and exits 0. Tests that need the
# modules then skip, saying why.
set -u
mode=$1
src=$2
out=$3
mkdir -p "$out"
rm -f "$out/unavailable"

clang=${CLAWFS_CLANG:-clang}
cflags="--target=wasm32-wasi -O2 -Wall -Wextra"
# Debian 12's clang finds wasi-libc in /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi by
# itself; newer wasi-libc packages and the upstream wasi-sdk use a sysroot directory
sysroot=${CLAWFS_WASI_SYSROOT:-/usr/share/wasi-sysroot}
[ -d "$sysroot" ] && cflags="$cflags --sysroot=$sysroot"
# no name section: smaller modules, and the module hash does not depend on symbol names
ldflags="-Wl,--strip-all"

skip() {
  echo "WebAssembly modules not built ($src): $1"
  printf '%s' "$1" > "$out/unavailable"
  [ "$mode" = tools ] && : > "$out/tools.list"
  exit 0
}

command -v "$clang" >/dev/null 2>&1 || skip "clang not found (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <stdio.h>\nint main(void) { puts("probe"); return 0; }\n' > "$probe_dir/probe.c"
if ! "$clang" $cflags "$probe_dir/probe.c" -o "$probe_dir/probe.wasm" 2> "$probe_dir/log"; then
  if grep -q "stdio.h" "$probe_dir/log"; then
    skip "clang has no wasm32-wasi C library (apt-get install wasi-libc)"
  elif grep -q "wasm-ld" "$probe_dir/log"; then
    skip "wasm-ld not found (apt-get install lld)"
  elif grep -q "libclang_rt.builtins-wasm32" "$probe_dir/log"; then
    skip "no compiler-rt for wasm32 (apt-get install libclang-rt-14-dev-wasm32, matching clang's version)"
  else
    skip "clang cannot build for wasm32-wasi: $(head -n 1 "$probe_dir/log")"
  fi
fi

# compile NAME OUTPUT SOURCES...: rebuilds only when a source is newer than the module
compile() {
  name=$1
  target=$2
  shift 2
  rm -f "$out/$name.unavailable"
  stale=0
  [ -f "$target" ] || stale=1
  for s in "$@"; do [ "$s" -nt "$target" ] && stale=1; done
  [ $stale = 0 ] && return 0
  if "$clang" $cflags "$@" -o "$target" $ldflags 2> "$probe_dir/$name.log"; then
    [ -s "$probe_dir/$name.log" ] && cat "$probe_dir/$name.log" >&2
    echo "built $target ($(wc -c < "$target") bytes)"
    return 0
  fi
  cat "$probe_dir/$name.log" >&2
  rm -f "$target"
  echo "WebAssembly module $name not built: clang failed on $*"
  printf 'clang failed on %s' "$*" > "$out/$name.unavailable"
  return 1
}

case "$mode" in
  tools)
    : > "$out/tools.list.tmp"
    for dir in "$src"/*/; do
      name=$(basename "$dir")
      ls "$dir"*.c >/dev/null 2>&1 || continue
      [ -f "$dir/manifest.json" ] || { echo "skipping $name: no manifest.json" >&2; continue; }
      if compile "$name" "$out/$name.wasm" "$dir"*.c; then
        cp "$dir/manifest.json" "$out/$name.json"
        echo "$name" >> "$out/tools.list.tmp"
      fi
    done
    mv "$out/tools.list.tmp" "$out/tools.list"
    ;;
  files)
    for file in "$src"/*.c; do
      [ -f "$file" ] || continue
      compile "$(basename "$file" .c)" "$out/$(basename "$file" .c).wasm" "$file"
    done
    ;;
  *)
    echo "usage: build-wasm.sh tools|files SRC OUT" >&2
    exit 0
    ;;
esac
exit 0
