#!/usr/bin/env bash
# WASM tools through their files under a ClawFS mount, against the native command doing the same
# job from the same driver (bench/tools_bench.py, Python, time.perf_counter_ns).
#
#   sudo bench/tools.sh [--jar JAR] [--calls N] [--warmup N] [--cli-calls N] [--mib N]
#                       [--fallback-mib N] [--rounds N] [--asm-fix | --no-asm-fix]
#                       [--work-dir DIR] [--results-dir DIR]
#
#   --jar JAR          the ClawFS jar to measure (default $CLAWFS_TOOLS_BENCH_JAR, else
#                      mount/target/clawfs.jar); copied into the work dir first
#   --calls N          small calls of each way (default 300), after --warmup N of each (1000:
#                      the server JIT-compiles the runtime for several hundred calls)
#   --cli-calls N      `clawfs tool run` calls (default 20; each starts a JVM)
#   --mib N            size of the random file hashed (default 100)
#   --fallback-mib N   when the tool does not finish --mib within its limits, this size is
#                      measured too (default 8), so that there is a rate to compare
#   --rounds N         rounds of each throughput way (default 3)
#   --asm-fix          also measure a second, diagnostic pass: the same jar with ASM 9.9.1 (from
#                      ~/.m2) ahead of it on the server's boot class path. It found the build
#                      shipping ASM 9.2 (tools silently interpreted); the build pins 9.9.1 since
#                      2ce11e0, so the pass is off unless asked for.
#
# Each pass: a fresh vault (cheap KDF) mounted with --no-search at WORK/mnt, then
#   1. small calls  `wordcount` on a 100-byte text, four ways interleaved call by call: the raw
#                   transaction tools/wordcount/run (open O_RDWR, write, read to EOF, close),
#                   tools/wordcount/run.json ({"stdin": ...}), `wc` forked and exec'd with a
#                   stdin pipe (subprocess.run), and the FUSE floor: the same open/write/read/close
#                   on an ordinary 100-byte file in the mount. Outputs are checked against wc's.
#                   Then `clawfs tool run MNT wordcount` (a JVM per call) against wc, fewer calls.
#   2. throughput   SHA-256 of N MiB of random data: the file on the mount streamed into
#                   tools/sha256/run in 1 MiB writes; sha256sum of the same file through the mount;
#                   sha256sum of the copy on the raw disk (page cache warm); cat of the mount file
#                   (the read floor). Rounds rotate the order. Hashes must equal the raw file's
#                   (the script fails when they do not). A tool run stopped by a limit is reported
#                   with the limit, the bytes it consumed and the rate, and not repeated.
# The load average is recorded before every measurement. Report: RESULTS/tools-<stamp>.md,
# the samples as JSON beside it (tools-<stamp>/), the server logs too.
# Scratch: /tmp/clawfs-tools-bench (removed at exit, also on failure or Ctrl-C).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(dirname "$BENCH_DIR")
JAR_SRC=${CLAWFS_TOOLS_BENCH_JAR:-$REPO/mount/target/clawfs.jar}
WORK=${CLAWFS_TOOLS_BENCH_DIR:-/tmp/clawfs-tools-bench}
RESULTS="$BENCH_DIR/results"
CALLS=300
WARMUP=1000
CLI_CALLS=20
MIB=100
FALLBACK_MIB=8
ROUNDS=3
ASM_FIX=0

while [ $# -gt 0 ]; do
  case "$1" in
    --jar) JAR_SRC=${2:?--jar needs a path}; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --cli-calls) CLI_CALLS=$2; shift 2 ;;
    --mib) MIB=$2; shift 2 ;;
    --fallback-mib) FALLBACK_MIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --asm-fix) ASM_FIX=1; shift ;;
    --no-asm-fix) ASM_FIX=0; shift ;;
    --work-dir) WORK=$2; shift 2 ;;
    --results-dir) RESULTS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) echo "tools.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
for v in CALLS WARMUP CLI_CALLS MIB FALLBACK_MIB ROUNDS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "tools.sh: ${v,,} takes a whole number" >&2; exit 2; }
done

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/tools-$STAMP"
REPORT="$RESULTS/tools-$STAMP.md"
MNT="$WORK/mnt"
PASSFILE="$WORK/passphrase"
JAR="$WORK/clawfs.jar"
CLAWFS="$REPO/clawfs"
DRIVER="$BENCH_DIR/tools_bench.py"
ASM_REPO=${HOME:-/root}/.m2/repository/org/ow2/asm
ASM_VERSION=9.9.1   # what Chicory 1.7.5 is built against (its pom's asm.version)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (mounts with allow_other)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"
[ -f "$JAR_SRC" ] || die "$JAR_SRC is missing: build first or give --jar"
for c in python3 java wc sha256sum; do command -v "$c" >/dev/null || die "$c is needed"; done
exec 9>"$WORK.lock"
flock -n 9 || die "another tools.sh is running (it holds $WORK.lock)"
mountpoint -q "$MNT" 2>/dev/null && die "$MNT is still mounted: clawfs umount $MNT first"

ASM_CP=""
for a in asm asm-commons asm-tree asm-util asm-analysis; do
  f="$ASM_REPO/$a/$ASM_VERSION/$a-$ASM_VERSION.jar"
  if [ -f "$f" ]; then ASM_CP="${ASM_CP:+$ASM_CP:}$f"; else ASM_CP=""; break; fi
done
if [ "$ASM_FIX" = auto ]; then ASM_FIX=$([ -n "$ASM_CP" ] && echo 1 || echo 0); fi
[ "$ASM_FIX" = 0 ] || [ -n "$ASM_CP" ] || die "--asm-fix needs the ASM $ASM_VERSION jars in $ASM_REPO"

# ---------------------------------------------------------------- cleanup, also on failure
cleanup() {
  local rc=$?
  trap '' INT TERM HUP
  cd /
  if mountpoint -q "$MNT" 2>/dev/null; then
    CLAWFS_JAR="$JAR" "$CLAWFS" umount "$MNT" >/dev/null 2>&1 || fusermount -u "$MNT" 2>/dev/null \
      || fusermount -u -z "$MNT" 2>/dev/null || true
  fi
  if mountpoint -q "$MNT" 2>/dev/null; then
    log "$MNT is still mounted; left $WORK in place"
  else
    rm -rf "$WORK"
  fi
  [ "$rc" -eq 0 ] || log "failed (exit $rc); what was measured is in $OUT/"
  return 0
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM
trap 'log "hung up"; exit 129' HUP

rm -rf "$WORK"
mkdir -p "$WORK/raw" "$MNT" "$OUT"
# A snapshot of the jar: a rebuild in the work tree during the run must not change what is measured.
cp "$JAR_SRC" "$JAR"
export CLAWFS_JAR="$JAR"
printf 'clawfs-tools-bench-passphrase\n' >"$PASSFILE"
chmod 600 "$PASSFILE"

# Which engine the jar's ToolRuntime gives the shipped tools (the mount's system/tools/status
# always prints "compiler"), asked in a JVM started with the same extra options as the server.
cat >"$WORK/Engines.java" <<'JAVA'
public class Engines {
  public static void main(String[] a) throws Exception {
    var rt = dev.clawfs.tools.ToolRuntime.builder().build();
    dev.clawfs.tools.BuiltinTools.installAll(rt);
    StringBuilder b = new StringBuilder();
    for (var t : rt.tools()) b.append(b.length() > 0 ? ", " : "").append(t.name()).append(' ').append(t.engine().name().toLowerCase());
    System.out.println(b);
  }
}
JAVA
engines() {  # extra JVM options...
  java "$@" -cp "$JAR" "$WORK/Engines.java" 2>/dev/null | tail -1 || echo "unknown (the probe failed)"
}

{
  echo "date: $(date -Is)"
  echo "jar: $JAR_SRC ($(stat -c '%s bytes, %y' "$JAR_SRC"))"
  echo "commit of the work tree: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "python: $(python3 --version 2>&1); wc/sha256sum: $(sha256sum --version | head -1)"
  echo "options: calls $CALLS, warm-up $WARMUP, cli calls $CLI_CALLS, $MIB MiB (fallback $FALLBACK_MIB), rounds $ROUNDS, asm-fix $ASM_FIX"
  echo "uptime at start: $(uptime)"
  echo "sha256 manifest limits: $(unzip -p "$JAR" dev/clawfs/tools/builtin/sha256.json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("limits"))' 2>/dev/null || echo '?')"
  echo "policy tools: section (shipped default):"
  awk '/^tools:/{on=1; next} on && /^[^ #]/{exit} on' "$REPO/policies/default.yaml" | sed 's/^/  /'
} >"$OUT/notes.txt"

log "random input: $MIB MiB"
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/raw/random"

# ---------------------------------------------------------------- one pass
# (called plainly, not in an || list, so that set -e still stops on a failed init or mount;
# a driver that finds a wrong hash or output sets fail and the pass goes on)
PASSES=()
fail=0
run_pass() {  # NAME TITLE NOTE [server java opts]
  local name=$1 title=$2 note=$3 opts=${4:-} dir="$OUT/$1" engine vault="$WORK/vault-$1" serverlog
  mkdir -p "$dir"
  PASSES+=("$dir")
  # shellcheck disable=SC2086
  engine=$(engines $opts)
  log "pass $name: engines: $engine"
  "$CLAWFS" init "$vault" --passphrase-file "$PASSFILE" --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  CLAWFS_SERVER_JAVA_OPTS="$opts" "$CLAWFS" mount "$vault" "$MNT" --passphrase-file "$PASSFILE" --no-search >"$dir/mount.txt"
  serverlog=$(sed -n 's/.*log \(.*\))$/\1/p' "$dir/mount.txt")
  python3 - "$dir/meta.json" "$title" "$note" "$engine" <<'PY'
import json, sys
json.dump({"title": sys.argv[2], "note": sys.argv[3], "engine": sys.argv[4]}, open(sys.argv[1], "w"))
PY
  python3 "$DRIVER" calls --mnt "$MNT" --json "$dir/calls.json" --warmup "$WARMUP" --calls "$CALLS" || fail=1
  if [ "$CLI_CALLS" -gt 0 ] && [ "$name" = shipped ]; then
    python3 "$DRIVER" cli --mnt "$MNT" --json "$dir/cli.json" --clawfs "$CLAWFS" --calls "$CLI_CALLS" || fail=1
  fi
  python3 "$DRIVER" throughput --mnt "$MNT" --json "$dir/throughput.json" --raw "$WORK/raw/random" \
    --mib "$MIB" --fallback-mib "$FALLBACK_MIB" --rounds "$ROUNDS" || fail=1
  cat "$MNT/system/tools/status" >"$dir/tools-status.txt" 2>/dev/null || true
  cp "$MNT/tools/sha256/log" "$dir/sha256-runs.jsonl" 2>/dev/null || true
  "$CLAWFS" umount "$MNT" >/dev/null
  # the log is appended to across mounts: keep this mount's part
  if [ -n "$serverlog" ] && [ -f "$serverlog" ]; then
    awk -v v="serving $vault at" 'index($0, v) {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' \
      "$serverlog" >"$dir/server.log"
  fi
  rm -rf "$vault" "$WORK"/raw/random-*
  log "pass $name done (load $(cut -d' ' -f1-3 /proc/loadavg))"
}

run_pass shipped "The jar as built" \
  "$(basename "$JAR_SRC"), unchanged; server started by clawfs mount with its default JVM options"
if [ "$ASM_FIX" = 1 ]; then
  run_pass asm-fix "Diagnostic: the same jar with ASM $ASM_VERSION ahead of it" \
    "server JVM given -Xbootclasspath/a: with asm, asm-commons, asm-tree, asm-util, asm-analysis $ASM_VERSION from ~/.m2 (what pinning ASM in the build would give; not what ships)" \
    "-Xbootclasspath/a:$ASM_CP"
fi
echo "uptime at end: $(uptime)" >>"$OUT/notes.txt"

python3 "$DRIVER" report --out "$REPORT" "${PASSES[@]}" >/dev/null
{ echo "# WASM tools benchmark, $STAMP"; echo; echo '```'; cat "$OUT/notes.txt"; echo '```'; echo; cat "$REPORT"; } >"$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
cat "$REPORT"
log "report: $REPORT (samples in $OUT/)"
[ "$fail" -eq 0 ] || die "a hash or an output differed from the native one, see above"
