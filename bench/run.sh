#!/usr/bin/env bash
# ClawFS benchmark: the same workload on ClawFS, gocryptfs and the raw disk, in one run.
#
#   sudo bench/run.sh [--mode steady|fresh] [--work-dir DIR] [--input-dir DIR] [--reps N]
#                     [--systems "raw gocryptfs clawfs"] [--jfr]
#
# Workloads (each system gets a fresh directory / vault / cipher dir under the work dir, so all
# three sit on the same file system and disk):
#   seq-write  dd 1 GiB of random bytes (pre-generated on tmpfs) with bs=1M conv=fsync
#   seq-read   dd the file back to /dev/null with a cold cache
#   extract    tar -xf of linux-source-6.1 (decompressed to a plain .tar on tmpfs first), then sync
#   ls-lR      ls -lR of the extracted tree to /dev/null with a cold cache
#   rm-rf      rm -rf of the tree, then sync
# Two modes (--mode, default steady):
#   steady  after each mount an untimed warm-up (256 MiB write + read, extract/ls/rm of the
#           include/ and fs/ subtrees of the same tarball) so that a JVM server is measured
#           JIT-compiled, as a long-running mount is; cold cache = `sync; echo 3 >
#           /proc/sys/vm/drop_caches` (drops the page cache, dentries and inodes of ext4 and of
#           the FUSE mounts; ClawFS keeps no content cache of its own, its metadata is in memory
#           by design).
#   fresh   no warm-up; cold cache = unmount and mount again (a new server process each time)
#           plus the same drop_caches: seq-write is the first I/O after mount, seq-read and
#           ls-lR each start on a newly started server.
# Each measurement is repeated --reps times (default 3), systems interleaved within each
# repetition; the table shows medians, plus the CPU seconds the FUSE server process used per
# step. Results: bench/results/<stamp>-<mode>.tsv (every sample), -summary.tsv (medians and
# ratios), -table.txt, -notes.txt (machine, versions, FUSE options, load, other processes).
# The inputs stay in the input dir (about 2.3 GiB of tmpfs) for the next run; remove it when done.
#
# Environment: CLAWFS_BENCH_DIR (work dir, default /var/tmp/clawfs-bench), CLAWFS_BENCH_INPUT
# (where the input files are prepared, default /dev/shm/clawfs-bench: tmpfs, so reading them
# costs no disk I/O and no xz time), CLAWFS_BENCH_REPS, CLAWFS_BENCH_SYSTEMS,
# CLAWFS_BENCH_JFR=1 (record a JFR profile of each ClawFS server into the results dir);
# for smoke tests of the script only: CLAWFS_BENCH_SEQ_MIB, CLAWFS_BENCH_TAR (a plain .tar).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WORK=${CLAWFS_BENCH_DIR:-/var/tmp/clawfs-bench}
INPUT=${CLAWFS_BENCH_INPUT:-/dev/shm/clawfs-bench}
REPS=${CLAWFS_BENCH_REPS:-3}
SYSTEMS=${CLAWFS_BENCH_SYSTEMS:-"raw gocryptfs clawfs"}
JFR=${CLAWFS_BENCH_JFR:-0}
MODE=${CLAWFS_BENCH_MODE:-steady}

while [ $# -gt 0 ]; do
  case "$1" in
    --work-dir) WORK=$2; shift 2 ;;
    --input-dir) INPUT=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --jfr) JFR=1; shift ;;
    --mode) MODE=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$MODE" in steady|fresh) ;; *) echo "run.sh: --mode is steady or fresh" >&2; exit 2 ;; esac

SEQ_MIB=${CLAWFS_BENCH_SEQ_MIB:-1024}   # smaller only for smoke tests of this script
TARBALL=/usr/src/linux-source-6.1.tar.xz
RESULTS="$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)-$MODE
SAMPLES="$RESULTS/$STAMP.tsv"
SUMMARY="$RESULTS/$STAMP-summary.tsv"
NOTES="$RESULTS/$STAMP-notes.txt"
PASSFILE="$WORK/passphrase"
JAR="$WORK/clawfs.jar"
CLAWFS="$REPO/clawfs"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (drop_caches, mounts, apt)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"

# ---------------------------------------------------------------- what we need, installed
need_pkgs=()
command -v gocryptfs >/dev/null || need_pkgs+=(gocryptfs)
command -v fusermount >/dev/null || need_pkgs+=(fuse3)
[ -e /usr/lib/x86_64-linux-gnu/libfuse.so.2 ] || ldconfig -p | grep -q 'libfuse.so.2 ' || need_pkgs+=(libfuse2)
[ -f "$TARBALL" ] || need_pkgs+=(linux-source-6.1)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v java >/dev/null || need_pkgs+=(openjdk-17-jdk-headless)
if [ ! -f "$REPO/mount/target/clawfs.jar" ]; then command -v mvn >/dev/null || need_pkgs+=(maven); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
if [ ! -f "$REPO/mount/target/clawfs.jar" ]; then
  log "building ClawFS"
  (cd "$REPO" && { mvn -q -B -DskipTests -o install || mvn -q -B -DskipTests install; })
fi

mkdir -p "$WORK" "$RESULTS" "$INPUT"
# A snapshot of the jar: a rebuild in the work tree during the run must not change what is measured.
cp "$REPO/mount/target/clawfs.jar" "$JAR"
export CLAWFS_JAR="$JAR"
printf 'clawfs-bench-passphrase\n' > "$PASSFILE"
chmod 600 "$PASSFILE"

# ---------------------------------------------------------------- cleanup of our mounts
MOUNTS=()
cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then
      "$CLAWFS" umount "$m" >/dev/null 2>&1 || fusermount -u "$m" 2>/dev/null || fusermount -u -z "$m" 2>/dev/null || true
    fi
  done
  # never recurse into a mount that is somehow still there
  if ! awk -v w="$WORK/" 'index($2, w) == 1 {found = 1} END {exit !found}' /proc/mounts; then
    rm -rf "$WORK"/run-* 2>/dev/null || true
  else
    log "some mounts under $WORK are still there; left $WORK/run-* in place"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- inputs on tmpfs
need_kib=$(( (SEQ_MIB + 1400) * 1024 ))
avail_kib=$(df -Pk "$INPUT" | awk 'NR==2{print $4}')
have_kib=$(du -sk "$INPUT" | awk '{print $1}')
if [ $((avail_kib + have_kib)) -lt "$need_kib" ]; then
  die "$INPUT needs about $((need_kib / 1024)) MiB free for the inputs; set CLAWFS_BENCH_INPUT"
fi
SEQ_SRC="$INPUT/random-${SEQ_MIB}m"
TAR_SRC=${CLAWFS_BENCH_TAR:-"$INPUT/linux-source-6.1.tar"}   # another plain .tar only for smoke tests
if [ ! -f "$SEQ_SRC.done" ]; then
  log "generating $SEQ_MIB MiB of random input"
  head -c $((SEQ_MIB * 1048576)) /dev/urandom > "$SEQ_SRC"
  touch "$SEQ_SRC.done"
fi
if [ -z "${CLAWFS_BENCH_TAR:-}" ] && { [ ! -f "$TAR_SRC.done" ] || [ "$TARBALL" -nt "$TAR_SRC.done" ]; }; then
  log "decompressing $TARBALL to $TAR_SRC"
  xz -dc -T0 "$TARBALL" > "$TAR_SRC"
  touch "$TAR_SRC.done"
fi
TAR_ENTRIES=$(tar -tf "$TAR_SRC" | wc -l)
TAR_MIB=$(( $(stat -c %s "$TAR_SRC") / 1048576 ))

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

record() {  # rep system metric value unit
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$SAMPLES"
}

# timed CMD...: runs CMD, prints the seconds it took (fails when CMD fails)
timed() {
  local t0 t1
  t0=$(now)
  "$@" || return $?
  t1=$(now)
  elapsed "$t0" "$t1"
}

clawfs_pid() { awk '/^pid:/{print $2}' "$1/system/status"; }

# The FUSE server's process id (empty for raw), looked up after each mount.
server_pid() {
  local sys=$1 d=$2
  case "$sys" in
    clawfs) clawfs_pid "$d/mnt" ;;
    gocryptfs) pgrep -f -x -- "/usr/bin/gocryptfs .*-passfile $PASSFILE $d/cipher $d/mnt" | head -1 ;;
    *) echo "" ;;
  esac
}
CLK_TCK=$(getconf CLK_TCK)
cpu_s() {  # user+system CPU seconds of a process, all its threads so far (0 with no process)
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  awk -v hz="$CLK_TCK" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"
}
# step REP SYSTEM METRIC CMD...: times CMD, records its wall time and the server's CPU time
step() {
  local rep=$1 sys=$2 metric=$3 pid c0 c1 t
  shift 3
  pid=$(server_pid "$sys" "$RUNDIR")
  c0=$(cpu_s "$pid")
  t=$(timed "$@")
  c1=$(cpu_s "$pid")
  record "$rep" "$sys" "$metric-s" "$t" s
  if [ -n "$pid" ]; then
    record "$rep" "$sys" "$metric-server-cpu-s" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" s
  fi
  if [ -n "$pid" ]; then
    log "  $sys $metric ${t}s (server CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')s)"
  else
    log "  $sys $metric ${t}s"
  fi
}

# mount_sys SYSTEM RUNDIR: mounts (for FUSE systems) and sets TARGET to the directory to work in
mount_sys() {
  local sys=$1 d=$2
  case "$sys" in
    # the same depth below the mount (or directory) on every system: with attr_timeout=0 each
    # path component costs ClawFS a GETATTR per path lookup, so depth must not differ
    raw) TARGET="$d/plain/workspaces/bench"; mkdir -p "$TARGET" ;;
    gocryptfs)
      gocryptfs -q -nosyslog -passfile "$PASSFILE" "$d/cipher" "$d/mnt"
      TARGET="$d/mnt/workspaces/bench"; mkdir -p "$TARGET" ;;
    clawfs)
      local jopts=""
      if [ "$JFR" = 1 ]; then
        JFR_N=$((JFR_N + 1))
        # jfr+startup=off: JFR's "Started recording" line on stdout would break the server's readiness line
      jopts="-Xlog:jfr+startup=off -XX:StartFlightRecording=dumponexit=true,settings=profile,filename=$RESULTS/$STAMP-clawfs-$JFR_N.jfr"
      fi
      CLAWFS_SERVER_JAVA_OPTS="$jopts" "$CLAWFS" mount "$d/vault" "$d/mnt" --passphrase-file "$PASSFILE" >/dev/null
      TARGET="$d/mnt/workspaces/bench"; mkdir -p "$TARGET" ;;
  esac
}

umount_sys() {
  local sys=$1 d=$2
  case "$sys" in
    raw) ;;
    gocryptfs) fusermount -u "$d/mnt" ;;
    clawfs) "$CLAWFS" umount "$d/mnt" >/dev/null ;;
  esac
}

create_sys() {
  local sys=$1 d=$2
  rm -rf "$d"; mkdir -p "$d"
  case "$sys" in
    raw) ;;
    gocryptfs) mkdir -p "$d/cipher" "$d/mnt"; gocryptfs -init -q -nosyslog -passfile "$PASSFILE" "$d/cipher" ;;
    clawfs) mkdir -p "$d/mnt"; "$CLAWFS" init "$d/vault" --passphrase-file "$PASSFILE" >/dev/null ;;
  esac
  case "$sys" in gocryptfs|clawfs) MOUNTS+=("$d/mnt") ;; esac
}

cold() {  # SYSTEM RUNDIR: cold caches everywhere
  if [ "$MODE" = fresh ]; then
    umount_sys "$1" "$2"
    drop_caches
    mount_sys "$1" "$2"
  else
    drop_caches
  fi
}

warmup() {  # untimed: the same small workload on every system, so JIT-compiled code is measured
  local members=(linux-source-6.1/include linux-source-6.1/fs)
  [ -n "${CLAWFS_BENCH_TAR:-}" ] && members=()
  dd if="$SEQ_SRC" of="$TARGET/warm" bs=1M count=256 conv=fsync status=none
  drop_caches
  dd if="$TARGET/warm" of=/dev/null bs=1M status=none
  rm -f "$TARGET/warm"
  mkdir -p "$TARGET/warm-tree"
  tar -xf "$TAR_SRC" -C "$TARGET/warm-tree" "${members[@]}"
  sync
  drop_caches
  ls -lR "$TARGET/warm-tree" > /dev/null
  rm -rf "$TARGET/warm-tree"
  sync
}

run_one() {  # REP SYSTEM
  local rep=$1 sys=$2 d="$WORK/run-$2" t rss hwm pid
  RUNDIR=$d
  create_sys "$sys" "$d"
  mount_sys "$sys" "$d"
  if [ "$sys" = clawfs ] && [ -z "${CLAWFS_MOUNT_LINE:-}" ]; then
    CLAWFS_MOUNT_LINE=$(grep " $d/mnt " /proc/mounts || true)
    CLAWFS_SERVER_CMD=$(tr '\0' ' ' < "/proc/$(clawfs_pid "$d/mnt")/cmdline" | sed 's/--passphrase-[a-z]*//')
  fi
  if [ "$sys" = gocryptfs ] && [ -z "${GOCRYPTFS_MOUNT_LINE:-}" ]; then
    GOCRYPTFS_MOUNT_LINE=$(grep " $d/mnt " /proc/mounts || true)
  fi
  if [ "$MODE" = steady ]; then
    t=$(timed warmup)
    record "$rep" "$sys" warmup-s "$t" s
    log "  $sys warm-up ${t}s (untimed in the table)"
  fi
  drop_caches

  step "$rep" "$sys" seq-write dd if="$SEQ_SRC" of="$TARGET/seq" bs=1M conv=fsync status=none
  cold "$sys" "$d"
  step "$rep" "$sys" seq-read dd if="$TARGET/seq" of=/dev/null bs=1M status=none
  rm -f "$TARGET/seq"; sync

  mkdir -p "$TARGET/tree"
  step "$rep" "$sys" extract bash -c 'tar -xf "$1" -C "$2" && sync' _ "$TAR_SRC" "$TARGET/tree"
  if [ "$sys" = clawfs ]; then
    pid=$(clawfs_pid "$d/mnt")
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
    record "$rep" "$sys" server-rss-after-extract-kib "$rss" KiB
    record "$rep" "$sys" server-peak-rss-kib "$hwm" KiB
    log "  $sys server RSS ${rss} KiB (peak ${hwm} KiB)"
  fi

  cold "$sys" "$d"
  step "$rep" "$sys" ls-lR bash -c 'ls -lR "$1" > /dev/null' _ "$TARGET/tree"
  step "$rep" "$sys" rm-rf bash -c 'rm -rf "$1" && sync' _ "$TARGET/tree"

  umount_sys "$sys" "$d"
  rm -rf "$d"
}

# ---------------------------------------------------------------- notes
load_now() { cut -d' ' -f1-3 /proc/loadavg; }
others() {  # the busiest processes that are not ours, as a hint of what ran alongside
  # %CPU over one second (top's second sample), not the lifetime average ps shows
  top -b -c -w 200 -n 2 -d 1 | awk '/^top -/{blk++} blk==2 && f && $9+0 >= 1 && !/top -b -c/ {print} blk==2 && /^ *PID/{f=1}' | head -8
}
{
  echo "date: $(date -Is)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
  echo "memory: $(awk '/^MemTotal/{print $2, $3}' /proc/meminfo)"
  echo "work dir: $WORK on $(df -PT "$WORK" | awk 'NR==2{print $1, $2}')"
  echo "input dir: $INPUT on $(df -PT "$INPUT" | awk 'NR==2{print $1, $2}')"
  echo "seq file: $SEQ_MIB MiB; tarball: $TAR_SRC ($TAR_MIB MiB, $TAR_ENTRIES entries)"
  echo "reps: $REPS; systems: $SYSTEMS; mode: $MODE"
  echo "clawfs commit: $(git -C "$REPO" log -1 --format='%h %ci' 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- . ':!bench' ':!docs' 2>/dev/null || echo ' (+local changes)')"
  jar_t=$(stat -c %Y "$REPO/mount/target/clawfs.jar")
  newer=$(find "$REPO" -path "$REPO/bench" -prune -o -path '*/src/main/*' -newer "$REPO/mount/target/clawfs.jar" -type f -print 2>/dev/null | wc -l)
  echo "clawfs jar: built $(date -d "@$jar_t" -Is), sha256 $(sha256sum "$JAR" | cut -c1-16)$([ "$newer" -gt 0 ] && echo " ($newer main source files are newer than the jar: rebuild to measure them)")"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "gocryptfs: $(gocryptfs -version 2>/dev/null | head -1)"
  echo "load at start: $(load_now)"
  echo "busiest processes at start:"; others | sed 's/^/  /'
} > "$NOTES"

printf 'rep\tsystem\tmetric\tvalue\tunit\n' > "$SAMPLES"
log "results: $SAMPLES"
log "inputs: $SEQ_MIB MiB random file, $TAR_MIB MiB tar with $TAR_ENTRIES entries; load $(load_now)"

JFR_N=0
MAX_LOAD=$(load_now | cut -d' ' -f1)
for rep in $(seq 1 "$REPS"); do
  for sys in $SYSTEMS; do
    log "rep $rep/$REPS: $sys (load $(load_now))"
    record "$rep" "$sys" load-1min-before "$(load_now | cut -d' ' -f1)" load
    run_one "$rep" "$sys"
    l=$(load_now | cut -d' ' -f1)
    MAX_LOAD=$(awk -v a="$MAX_LOAD" -v b="$l" 'BEGIN{print (b>a)?b:a}')
  done
  { echo "load after rep $rep: $(load_now)"; echo "busiest processes after rep $rep:"; others | sed 's/^/  /'; } >> "$NOTES"
done

# FUSE options ClawFS mounts with (kernel-visible ones are in /proc/mounts; the rest are libfuse's)
CLAWFS_OPTS=""
if [[ " $SYSTEMS " == *" clawfs "* ]]; then
  probe="$WORK/OptionsProbe.java"
  cat > "$probe" <<'EOF'
public class OptionsProbe {
  public static void main(String[] a) {
    System.out.println(String.join(" ", dev.clawfs.fuse.FuseAdapter.mountOptions("VAULT", a[0].equals("1"), null)));
  }
}
EOF
  ao=0; [[ "${CLAWFS_MOUNT_LINE:-}" == *allow_other* ]] && ao=1
  CLAWFS_OPTS=$(java -cp "$JAR" "$probe" "$ao" 2>/dev/null || echo "(could not query FuseAdapter.mountOptions)")
fi
{
  echo "clawfs FUSE options (FuseAdapter.mountOptions): $CLAWFS_OPTS"
  echo "clawfs /proc/mounts: ${CLAWFS_MOUNT_LINE:-}"
  echo "clawfs server command: ${CLAWFS_SERVER_CMD:-}"
  echo "gocryptfs /proc/mounts: ${GOCRYPTFS_MOUNT_LINE:-}"
  echo "highest 1-min load seen between systems: $MAX_LOAD"
  echo "load at end: $(load_now)"
} >> "$NOTES"

# ---------------------------------------------------------------- medians, ratios, table
awk -F'\t' -v seqmib="$SEQ_MIB" -v systems="$SYSTEMS" '
  NR == 1 { next }
  { k = $2 SUBSEP $3; n[k]++; v[k, n[k]] = $4 }
  function median(k,    i, j, t, a, c) {
    c = n[k]; if (!c) return ""
    for (i = 1; i <= c; i++) a[i] = v[k, i]
    for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
  }
  function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
  function fmt(x, f) { return x == "" ? "-" : sprintf(f, x) }
  END {
    split("seq-write-s seq-write-MiBps seq-read-s seq-read-MiBps extract-s ls-lR-s rm-rf-s", rows, " ")
    label["seq-write-s"] = "seq write " seqmib " MiB + fsync (s)"
    label["seq-write-MiBps"] = "seq write (MiB/s)"
    label["seq-read-s"] = "seq read " seqmib " MiB, cold (s)"
    label["seq-read-MiBps"] = "seq read (MiB/s)"
    label["extract-s"] = "tar -xf + sync (s)"
    label["ls-lR-s"] = "ls -lR, cold (s)"
    label["rm-rf-s"] = "rm -rf + sync (s)"
    split("raw gocryptfs clawfs", sys, " ")
    for (s = 1; s <= 3; s++) {
      for (r = 1; r <= 7; r++) {
        m = rows[r]
        if (m ~ /MiBps$/) { base = m; sub(/MiBps$/, "s", base); t = median(sys[s] SUBSEP base); med[sys[s], m] = (t == "" || t + 0 == 0) ? "" : seqmib / t }
        else med[sys[s], m] = median(sys[s] SUBSEP m)
      }
    }
    printf "metric\traw\tgocryptfs\tclawfs\tclawfs/gocryptfs\tclawfs/raw\n" > "/dev/stderr"
    printf "%-30s %9s %10s %9s %17s %11s\n", "metric (median)", "raw", "gocryptfs", "clawfs", "clawfs/gocryptfs", "clawfs/raw"
    for (r = 1; r <= 7; r++) {
      m = rows[r]; f = (m ~ /MiBps$/) ? "%.1f" : "%.2f"
      a = med["raw", m]; g = med["gocryptfs", m]; c = med["clawfs", m]
      printf "%-30s %9s %10s %9s %17s %11s\n", label[m], fmt(a, f), fmt(g, f), fmt(c, f), ratio(c, g), ratio(c, a)
      printf "%s\t%s\t%s\t%s\t%s\t%s\n", m, a, g, c, ratio(c, g), ratio(c, a) > "/dev/stderr"
    }
    rss = median("clawfs" SUBSEP "server-rss-after-extract-kib")
    hwm = median("clawfs" SUBSEP "server-peak-rss-kib")
    if (rss != "") {
      printf "%-30s %9s %10s %9s\n", "clawfs server RSS after extract", "", "", sprintf("%d MiB", rss / 1024)
      printf "%-30s %9s %10s %9s\n", "clawfs server peak RSS", "", "", sprintf("%d MiB", hwm / 1024)
      printf "server-rss-after-extract-kib\t\t\t%s\t\t\n", rss > "/dev/stderr"
    }
    split("seq-write seq-read extract ls-lR rm-rf", cm, " ")
    for (r = 1; r <= 5; r++) {
      g = median("gocryptfs" SUBSEP cm[r] "-server-cpu-s"); c = median("clawfs" SUBSEP cm[r] "-server-cpu-s")
      if (g != "" || c != "") {
        printf "%-30s %9s %10s %9s %17s %11s\n", "server CPU s, " cm[r], "", fmt(g, "%.2f"), fmt(c, "%.2f"), ratio(c, g), ""
        printf "%s-server-cpu-s\t\t%s\t%s\t%s\t\n", cm[r], g, c, ratio(c, g) > "/dev/stderr"
      }
    }
    printf "median 1-min load before each system: raw %s, gocryptfs %s, clawfs %s\n", fmt(median("raw" SUBSEP "load-1min-before"), "%.2f"), fmt(median("gocryptfs" SUBSEP "load-1min-before"), "%.2f"), fmt(median("clawfs" SUBSEP "load-1min-before"), "%.2f")
    print "(s rows: time, lower is better, ratio < 1 means ClawFS is faster; MiB/s rows: ratio > 1 means ClawFS is faster)"
  }' "$SAMPLES" 2> "$SUMMARY" | tee "$RESULTS/$STAMP-table.txt"

echo
cat "$NOTES"
log "samples: $SAMPLES; summary: $SUMMARY; notes: $NOTES"
log "inputs kept in $INPUT for the next run (rm -rf it to free $(du -sh "$INPUT" | cut -f1) of memory)"
