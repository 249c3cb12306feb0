#!/usr/bin/env bash
# What counting every FUSE operation (system/metrics) costs: the same workloads through two
# server jars, one built before the metrics and one after, side by side.
#
#   bench/metrics-overhead.sh OLD.jar NEW.jar [ROUNDS] [FILES] [MIB]
#
# Each round, for each jar (alternating, so other load on the machine falls on both): a fresh vault
# (cheap KDF, --no-search so the indexer does not compete) mounted at /tmp/clawfs-metrics-bench/mnt,
# then, timed with date +%s%N:
#   create  FILES files of 100 bytes, 100 per directory (a shell loop of printf > file)
#   stat    find -ls over them (a lookup and getattr per file)
#   cat     cat of every file (open, read, flush, release)
#   rm      rm -r
#   write   dd of MIB MiB in 128 KiB writes, then fsync (conv=fsync)
#   read    dd of it back in 128 KiB reads (no keep_cache: the open drops cached pages)
#   server-cpu  the server process's CPU time (utime + stime) over all phases: less sensitive to
#               other load on the machine than the wall-clock times
# Prints ms per phase per jar and round, and the median ratio NEW/OLD per phase. With NEW.jar,
# system/metrics is read once a second throughout (a scraper), so its own cost is included.
set -euo pipefail
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 OLD.jar NEW.jar [ROUNDS] [FILES] [MIB]" >&2; exit 2; }
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); ROUNDS=${3:-5}; FILES=${4:-2000}; MIB=${5:-256}
W=/tmp/clawfs-metrics-bench
MNT=$W/mnt
SCRAPER=""
cleanup() {
  [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null || true
  SCRAPER=""
  CLAWFS_JAR=$NEW "$REPO/clawfs" umount "$MNT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a process, in clock ticks
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
run() { # jar label
  cleanup; rm -rf "$W"; mkdir -p "$MNT"; printf 'metrics-bench-passphrase\n' > "$W/pw"
  CLAWFS_JAR=$1 "$REPO/clawfs" init "$W/vault" --passphrase-file "$W/pw" --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  CLAWFS_JAR=$1 "$REPO/clawfs" mount "$W/vault" "$MNT" --passphrase-file "$W/pw" --no-search >/dev/null
  if [ -e "$MNT/system/metrics" ]; then
    # its own stdout: tee must see the end of run's output when run returns
    ( while sleep 1; do cat "$MNT/system/metrics" || break; done ) > /dev/null 2>&1 & SCRAPER=$!
  fi
  local d=$MNT/workspaces/b t pid cpu0
  pid=$(sed -n 's/^pid: //p' "$MNT/system/status")
  cpu0=$(cpu "$pid")
  mkdir -p "$d"
  t=$(date +%s%N)
  for i in $(seq 1 "$FILES"); do
    [ $(((i - 1) % 100)) = 0 ] && mkdir -p "$d/$(((i - 1) / 100))"
    printf '%0100d' "$i" > "$d/$(((i - 1) / 100))/f$i"
  done
  local create; create=$(ms "$t")
  t=$(date +%s%N); find "$d" -ls > /dev/null; local st; st=$(ms "$t")
  t=$(date +%s%N); cat "$d"/*/* > /dev/null; local readall; readall=$(ms "$t")
  t=$(date +%s%N); rm -r "$d"; local del; del=$(ms "$t")
  t=$(date +%s%N); dd if=/dev/zero of="$MNT/workspaces/big" bs=128k count=$((MIB * 8)) conv=fsync status=none
  local wr; wr=$(ms "$t")
  t=$(date +%s%N); dd if="$MNT/workspaces/big" of=/dev/null bs=128k status=none; local rd; rd=$(ms "$t")
  [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null; SCRAPER=""
  local cpums=$(( ($(cpu "$pid") - cpu0) * 1000 / $(getconf CLK_TCK) ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$create" "$st" "$readall" "$del" "$wr" "$rd" "$cpums"
}
OUT=$(mktemp)
printf 'jar\tcreate\tstat\tcat\trm\twrite\tread\tserver-cpu   (ms; %s files, %s MiB; %s cores, load %s)\n' "$FILES" "$MIB" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  run "$OLD" old | tee -a "$OUT"
  run "$NEW" new | tee -a "$OUT"
done
python3 - "$OUT" "$FILES" "$MIB" <<'PY'
import sys, statistics
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
files, mib = int(sys.argv[2]), int(sys.argv[3])
names = ['create', 'stat', 'cat', 'rm', 'write', 'read', 'server-cpu']
for i, n in enumerate(names, 1):
    old = statistics.median(int(r[i]) for r in rows if r[0] == 'old')
    new = statistics.median(int(r[i]) for r in rows if r[0] == 'new')
    per = f"{mib / (old / 1000):.0f} -> {mib / (new / 1000):.0f} MiB/s" if n in ('write', 'read') \
        else "all phases" if n == 'server-cpu' else f"{old * 1000 / files:.0f} -> {new * 1000 / files:.0f} us/file"
    print(f"{n:7s} median old {old:.0f} ms, new {new:.0f} ms, new/old {new / old:.3f} ({per})")
PY
rm -f "$OUT"
