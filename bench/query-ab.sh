#!/usr/bin/env bash
# A/B of hybrid query latency between two server jars on the same indexed vault.
#
#   bench/search.sh --keep            # once: builds, indexes 10,000 files, leaves the vault mounted
#   bench/query-ab.sh A.jar B.jar [ROUNDS]
#
# Each round remounts the kept vault (/tmp/clawfs-search-bench) with jar A, waits for the index to
# be idle, runs the 60 hybrid queries of test-data/search/queries.tsv once each ('/' removed), one
# new `ls` process per query, timed with date +%s%N; then the same with jar B. Remounting empties
# the server's result cache, so every query runs afresh. Rounds alternate A and B so that other
# load on the machine falls on both. Prints median / p90 / max per jar and round.
set -euo pipefail
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
W=${CLAWFS_SEARCH_BENCH_DIR:-/tmp/clawfs-search-bench}
MNT=$W/mnt
[ $# -ge 2 ] || { echo "usage: $0 A.jar B.jar [ROUNDS]" >&2; exit 2; }
A=$(readlink -f "$1"); B=$(readlink -f "$2"); ROUNDS=${3:-3}
[ -f "$W/passphrase" ] && [ -d "$W/vault" ] || { echo "no kept bench vault in $W: run bench/search.sh --keep first" >&2; exit 1; }
QUERIES=$(mktemp)
trap 'rm -f "$QUERIES"' EXIT
awk -F'\t' 'NR > 1 && !/^#/ && NF >= 3 {print $2}' "$REPO/test-data/search/queries.tsv" | head -60 | tr -d '/' > "$QUERIES"

run() { # jar label
  CLAWFS_JAR=$1 "$REPO/clawfs" umount "$MNT" >/dev/null 2>&1 || true
  CLAWFS_JAR=$1 "$REPO/clawfs" mount "$W/vault" "$MNT" --passphrase-file "$W/passphrase" >/dev/null
  for _ in $(seq 1 120); do grep -q "state: idle" "$MNT/system/index/status" 2>/dev/null && break; sleep 1; done
  sleep 3
  local times=()
  while IFS= read -r q; do
    s=$(date +%s%N); ls "$MNT/search/$q" >/dev/null; e=$(date +%s%N)
    times+=($(( (e - s) / 100000 )))
  done < "$QUERIES"
  printf '%s\n' "${times[@]}" | sort -n | awk -v l="$2" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    '{a[NR]=$1} END {printf "%-4s median %6.1f ms  p90 %6.1f  max %6.1f  (n=%d, load %s)\n", l, a[int((NR+1)/2)]/10, a[int(NR*0.9)]/10, a[NR]/10, NR, load}'
}
for r in $(seq 1 "$ROUNDS"); do
  run "$A" A
  run "$B" B
done
