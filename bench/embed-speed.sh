#!/usr/bin/env bash
# Embedding throughput of the four in-process models (OnnxEmbedder), on passages of real prose.
#
#   bench/embed-speed.sh [--quick] [--recall] [--models "all-minilm-l6-v2-q bge-small-en-v1.5-q"]
#
# --quick: one configuration per model and the repeats; --recall: afterwards a rough retrieval
# check of each model on the same passages (EmbedRecall: 12-word spans as queries, recall@1/@5).
#
# Input: ~200-word passages cut from the kernel's Documentation/{admin-guide,filesystems,process}
# *.rst, extracted from /usr/src/linux-source-6.1.tar.xz (Debian's linux-source-6.1 package) into
# the work dir; without that tarball, from whatever text /usr/share/doc and
# /usr/share/common-licenses hold. Each model runs in a JVM of its own, so that the load time and
# resident memory printed are that model's alone.
#
# Configurations (see EmbedSpeed): pPiI:B = P passages side by side, each inference on I
# onnxruntime threads, B passages per embedPassages call; a suffix wN truncates at N tokens;
# stock = the artifact's own LangChain4j class with its defaults (for MiniLM that includes the
# artifact's 128-token truncation, so its figure embeds only the first ~100 words).
# Every figure is printed with the load average and with passages per CPU-second of this process,
# which other work on the machine hardly changes, and with the cores other processes used
# meanwhile; the best configurations are repeated at the end.
#
# Output: bench/results/embed-<stamp>.log (raw lines) and embed-<stamp>-table.txt.
# Environment: CLAWFS_EMBED_WORK (default /tmp/clawfs-embed-bench), CLAWFS_EMBED_PASSAGES
# (default 256; the bge models get half as many, being 2-5x slower).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WORK=${CLAWFS_EMBED_WORK:-/tmp/clawfs-embed-bench}
PASSAGES=${CLAWFS_EMBED_PASSAGES:-256}
MODELS="all-minilm-l6-v2-q all-minilm-l6-v2 bge-small-en-v1.5-q bge-small-en-v1.5"
QUICK=0
RECALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --recall) RECALL=1; shift ;;
    --models) MODELS=$2; shift 2 ;;
    *) echo "usage: $0 [--quick] [--recall] [--models \"NAME ...\"]" >&2; exit 2 ;;
  esac
done

mkdir -p "$WORK" "$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
LOG="$BENCH_DIR/results/embed-$STAMP.log"
TABLE="$BENCH_DIR/results/embed-$STAMP-table.txt"

# --- build: test classes and the test class path (offline first, then with the network) ---
mvn_q() { (cd "$REPO" && { mvn -q -B -o "$@" || mvn -q -B "$@"; }); }
mvn_q -pl vector-index test-compile
mvn_q -pl vector-index dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$WORK/classpath.txt" >/dev/null
CP="$REPO/vector-index/target/test-classes:$REPO/vector-index/target/classes:$(cat "$WORK/classpath.txt")"

# --- input text ---
DOCS="$WORK/docs"
if [ ! -d "$DOCS" ] || [ -z "$(ls -A "$DOCS")" ]; then
  mkdir -p "$DOCS"
  TARBALL=/usr/src/linux-source-6.1.tar.xz
  if [ -f "$TARBALL" ]; then
    echo "extracting kernel documentation from $TARBALL ..."
    tar -xJf "$TARBALL" -C "$DOCS" --wildcards \
      'linux-source-6.1/Documentation/admin-guide/*.rst' \
      'linux-source-6.1/Documentation/filesystems/*.rst' \
      'linux-source-6.1/Documentation/process/*.rst'
  else
    echo "no $TARBALL: using /usr/share/doc and /usr/share/common-licenses text instead"
    find /usr/share/common-licenses /usr/share/doc -type f \( -name '*.txt' -o -name 'README*' \
      -o -path '*/common-licenses/*' \) ! -name '*.gz' -size +2k 2>/dev/null | head -400 |
      while read -r f; do cp "$f" "$DOCS/$(echo "$f" | tr '/' '_').txt"; done
  fi
fi

{
  echo "# embed-speed $STAMP on $(hostname): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# java: $(java -version 2>&1 | head -1); git $(git -C "$REPO" rev-parse --short HEAD)"
  echo "# docs: $DOCS ($(find "$DOCS" -type f | wc -l) files); passages $PASSAGES of 200 words"
} | tee "$LOG"

run() { # model passages configs
  echo "# $(date +%T) uptime:$(uptime | sed 's/.*load average//')" | tee -a "$LOG"
  java -cp "$CP" dev.clawfs.index.EmbedSpeed --docs "$DOCS" --model "$1" --passages "$2" \
    --configs "$3" 2>&1 | grep -v '^SLF4J' | tee -a "$LOG"
}

passages_for() { case "$1" in bge*) echo $((PASSAGES / 2)) ;; *) echo "$PASSAGES" ;; esac; }

if [ "$QUICK" = 1 ]; then
  CONFIGS="p2i1:32,stock:32"
else
  # p2i1 first: its LOAD line is the clean load time and memory of the configuration load() uses.
  CONFIGS="p2i1:32,p2i1:8,p2i1:64,p1i1:32,p1i2:32,p2i2:32,p2i2s:32,stock:32"
fi
for m in $MODELS; do
  extra=""
  case "$m" in all-minilm*) extra=",p2i1w128:32" ;; esac # same window as stock
  run "$m" "$(passages_for "$m")" "$CONFIGS$extra"
done

echo "# repeats of the best configurations" | tee -a "$LOG"
for m in $MODELS; do
  run "$m" "$(passages_for "$m")" "p2i1:32,p2i2:32,p2i1:32"
done

if [ "$RECALL" = 1 ]; then
  echo "# $(date +%T) recall check" | tee -a "$LOG"
  java -cp "$CP" dev.clawfs.index.EmbedRecall --docs "$DOCS" --passages "$PASSAGES" \
    --models "$(echo $MODELS | tr ' ' ',')" --windows 0 2>&1 | grep -v '^SLF4J' | tee -a "$LOG"
fi

{
  printf "%-20s %-10s %5s %10s %13s %6s %6s %7s\n" model config batch passages/s passages/cpu-s load1 load5 others
  awk -F'\t' '$1=="RESULT" {printf "%-20s %-10s %5s %10s %13s %6s %6s %7s\n", $2, $3, $4, $6, $10, $8, $9, $11}' "$LOG"
  echo
  echo "load (first load of each model in its JVM; rss in MiB):"
  awk -F'\t' '$1=="LOAD" && !seen[$2]++ {print "  " $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6 "\t" $7 "\t" $9 "\t" $10}' "$LOG"
  awk -F'\t' '$1=="TOKENS" && !seen[$2]++ {print "  " $0}' "$LOG"
  grep '^RECALL' "$LOG" || true
} | tee "$TABLE"
echo "raw: $LOG"
