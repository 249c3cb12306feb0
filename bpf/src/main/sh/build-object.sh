#!/bin/sh
# Compiles the eBPF audit program for the jar; called by Maven (antrun, process-resources).
#   build-object.sh SOURCE WORK_DIR RESOURCE_DIR
# Writes RESOURCE_DIR/clawfs_audit.bpf.o, or, when the tools or BTF are missing,
# RESOURCE_DIR/clawfs_audit.bpf.unavailable holding the reason, and exits 0 either way:
# a machine without clang still builds ClawFS, it just has no eBPF audit.
set -u
src=$1
work=$2
out=$3
obj=$out/clawfs_audit.bpf.o
reason_file=$out/clawfs_audit.bpf.unavailable
mkdir -p "$work" "$out"
rm -f "$obj" "$reason_file"

skip() {
  echo "eBPF object not built: $1"
  printf '%s' "$1" > "$reason_file"
  exit 0
}

PATH=$PATH:/usr/sbin:/sbin
btf=${CLAWFS_BTF:-/sys/kernel/btf/vmlinux}
clang=${CLAWFS_CLANG:-clang}
command -v "$clang" >/dev/null 2>&1 || skip "clang not found (apt-get install clang llvm)"
command -v bpftool >/dev/null 2>&1 || skip "bpftool not found (apt-get install bpftool)"
[ -r "$btf" ] || skip "no kernel BTF at $btf (kernel built without CONFIG_DEBUG_INFO_BTF)"
[ -r /usr/include/bpf/bpf_helpers.h ] || skip "libbpf headers not found (apt-get install libbpf-dev)"

# vmlinux.h depends only on the build machine's kernel; CO-RE relocates to the running one
if [ ! -s "$work/vmlinux.h" ] || [ "$btf" -nt "$work/vmlinux.h" ]; then
  bpftool btf dump file "$btf" format c > "$work/vmlinux.h.tmp" 2> "$work/bpftool.log" \
    || skip "bpftool btf dump failed: $(tail -n 1 "$work/bpftool.log")"
  mv "$work/vmlinux.h.tmp" "$work/vmlinux.h"
fi

"$clang" -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I"$work" \
  -c "$src" -o "$work/clawfs_audit.bpf.o" 2> "$work/clang.log" \
  || { cat "$work/clang.log" >&2; skip "clang failed on $(basename "$src"), see $work/clang.log"; }

# drop DWARF (650 KB) but keep .BTF and .BTF.ext, which CO-RE needs
if command -v llvm-strip >/dev/null 2>&1; then
  llvm-strip -g "$work/clawfs_audit.bpf.o" -o "$obj" || cp "$work/clawfs_audit.bpf.o" "$obj"
else
  cp "$work/clawfs_audit.bpf.o" "$obj"
fi
echo "eBPF object built: $obj ($(wc -c < "$obj") bytes, $("$clang" --version | head -n 1))"
