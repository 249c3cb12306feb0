#!/usr/bin/env bash
# Where embedding time goes, and whether batching or another onnxruntime helps (EmbedProfile).
#
#   bench/embed-profile.sh [--onnxruntime VERSION] [--model all-minilm-l6-v2-q] [--passages 96]
#
# One thread, passages per CPU-second (robust to other load): batch 1, 4 and 16 (length-sorted,
# padded with an attention mask), then batch 1 with onnxruntime's profiler summed per operator.
# --onnxruntime swaps the onnxruntime jar LangChain4j brings (1.20.0) for another version from
# Maven Central. Input: the ~200-word passages bench/embed-speed.sh extracts (run it once first,
# or point CLAWFS_EMBED_WORK at its work dir). Output on stdout and in bench/results/.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WORK=${CLAWFS_EMBED_WORK:-/tmp/clawfs-embed-bench}
ORT=""
MODEL=all-minilm-l6-v2-q
N=96
while [ $# -gt 0 ]; do
  case "$1" in
    --onnxruntime) ORT=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --passages) N=$2; shift 2 ;;
    *) echo "usage: $0 [--onnxruntime VERSION] [--model NAME] [--passages N]" >&2; exit 2 ;;
  esac
done
[ -d "$WORK/docs" ] || { echo "no passages in $WORK/docs: run bench/embed-speed.sh --quick once first" >&2; exit 1; }
mvn_q() { (cd "$REPO" && { mvn -q -B -o "$@" || mvn -q -B "$@"; }); }
mvn_q -pl vector-index test-compile
mvn_q -pl vector-index dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$WORK/classpath.txt" >/dev/null
DEPS=$(cat "$WORK/classpath.txt")
if [ -n "$ORT" ]; then
  mvn_q dependency:get -Dartifact=com.microsoft.onnxruntime:onnxruntime:"$ORT" >/dev/null
  DEPS=$(echo "$DEPS" | sed -E "s#onnxruntime/[^/]+/onnxruntime-[^/:]+\.jar#onnxruntime/$ORT/onnxruntime-$ORT.jar#")
fi
CP="$REPO/vector-index/target/test-classes:$REPO/vector-index/target/classes:$DEPS"
mkdir -p "$BENCH_DIR/results"
OUT="$BENCH_DIR/results/embed-profile-$(date +%Y%m%d-%H%M%S).txt"
{
  echo "# embed-profile $(date -u +%FT%TZ), git $(git -C "$REPO" rev-parse --short HEAD), $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
  for b in 1 4 16; do
    java -cp "$CP" dev.clawfs.index.EmbedProfile "$WORK/docs" "$MODEL.onnx" "$MODEL-tokenizer.json" "$N" "$b" 256 2>&1 | grep -v SLF4J
  done
  java -cp "$CP" dev.clawfs.index.EmbedProfile "$WORK/docs" "$MODEL.onnx" "$MODEL-tokenizer.json" 32 1 256 profile 2>&1 | grep -v SLF4J
} | tee "$OUT"
echo "saved: $OUT"
