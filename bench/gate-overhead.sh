#!/usr/bin/env bash
# What the policy gate and the audit stream cost per file operation: the same small-file workload
# through two server jars (e.g. one built before them and one after), side by side.
#
#   bench/gate-overhead.sh OLD.jar NEW.jar [ROUNDS] [FILES]
#
# Each round, for each jar: a fresh vault (cheap KDF, --no-search so the indexer does not compete),
# mounted at /tmp/clawfs-gate-bench/mnt, then, timed with date +%s%N: create FILES files of 100
# bytes, 100 per dir (one shell loop of `printf > file`), `ls -lR` (a lookup and getattr per file),
# `cat` of all files (open, read, release), `rm -r`. Rounds alternate the jars so that other load
# on the machine falls on both. With NEW.jar a `cat` of /clawfs/system/audit/stream runs
# throughout when --with-reader is given as the fifth argument (a live reader of every event).
# Prints ms per phase per jar and round, and the median ratio NEW/OLD per phase.
set -euo pipefail
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 OLD.jar NEW.jar [ROUNDS] [FILES] [--with-reader]" >&2; exit 2; }
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); ROUNDS=${3:-3}; FILES=${4:-2000}; READER=${5:-}
W=/tmp/clawfs-gate-bench
MNT=$W/mnt
cleanup() { CLAWFS_JAR=$NEW "$REPO/clawfs" umount "$MNT" >/dev/null 2>&1 || true; }
trap cleanup EXIT
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
run() { # jar label
  cleanup; rm -rf "$W"; mkdir -p "$MNT"; printf 'gate-bench-passphrase\n' > "$W/pw"
  CLAWFS_JAR=$1 "$REPO/clawfs" init "$W/vault" --passphrase-file "$W/pw" --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  CLAWFS_JAR=$1 "$REPO/clawfs" mount "$W/vault" "$MNT" --passphrase-file "$W/pw" --no-search >/dev/null
  local rpid=""
  if [ "$READER" = --with-reader ] && [ -e "$MNT/system/audit/stream" ]; then
    cat "$MNT/system/audit/stream" > "$W/stream.out" & rpid=$!
  fi
  local d=$MNT/workspaces/b t
  mkdir -p "$d"
  t=$(date +%s%N)
  for i in $(seq 1 "$FILES"); do
    [ $(((i - 1) % 100)) = 0 ] && mkdir -p "$d/$(((i - 1) / 100))"
    printf '%0100d' "$i" > "$d/$(((i - 1) / 100))/f$i"
  done
  local create; create=$(ms "$t")
  t=$(date +%s%N); ls -lR "$d" > /dev/null; local lsr; lsr=$(ms "$t")
  t=$(date +%s%N); cat "$d"/*/* > /dev/null; local readall; readall=$(ms "$t")
  t=$(date +%s%N); rm -r "$d"; local del; del=$(ms "$t")
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$create" "$lsr" "$readall" "$del"
}
OUT=$(mktemp)
printf 'jar\tcreate\tls -lR\tcat all\trm -r   (ms, %s files; load %s)\n' "$FILES" "$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  run "$OLD" old | tee -a "$OUT"
  run "$NEW" new | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import sys, statistics
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
names = ['create', 'ls -lR', 'cat all', 'rm -r']
for i, n in enumerate(names, 1):
    old = statistics.median(int(r[i]) for r in rows if r[0] == 'old')
    new = statistics.median(int(r[i]) for r in rows if r[0] == 'new')
    print(f"{n:8s} median old {old:.0f} ms, new {new:.0f} ms, new/old {new / old:.2f}")
PY
rm -f "$OUT"
