#!/bin/bash
# Search quality per embedding model on the labelled corpus (test-data/search), by running
# SearchQualityIT once per model. Figures land in vector-index/target/search-reports/ and are
# summarised on stdout (and in bench/results/search-quality-<date>.md).
#   bench/search-quality.sh                 all four models on the labelled documents + 600 others
#   bench/search-quality.sh --full M...     the whole corpus (3,257 documents) for the models named
#   bench/search-quality.sh --window 128    also the default model with a 128-token window
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
docs=600
models=(all-minilm-l6-v2-q all-minilm-l6-v2 bge-small-en-v1.5-q bge-small-en-v1.5)
windows=(0)
while [ $# -gt 0 ]; do
  case "$1" in
    --full) docs=0; shift; if [ $# -gt 0 ]; then models=("$@"); set --; fi ;;
    --window) windows+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--window N] [--full [MODEL...]]" >&2; exit 2 ;;
  esac
done
mkdir -p "$repo/bench/results"
out="$repo/bench/results/search-quality-$(date +%Y%m%d-%H%M%S).md"
(cd "$repo" && mvn -q -B -DskipTests install -pl crypto,vector-index -am >/dev/null)
{
  echo "# Search quality per model ($(date -u +%FT%TZ), commit $(git -C "$repo" rev-parse --short HEAD), $(nproc) cores)"
  echo
  echo "Corpus: $([ "$docs" = 0 ] && echo "all documents" || echo "labelled documents + $docs others (seed 7)")."
  echo
} > "$out"
for m in "${models[@]}"; do
  for w in "${windows[@]}"; do
    [ "$w" != 0 ] && [ "$m" != all-minilm-l6-v2-q ] && continue
    echo "== $m window ${w/#0/default}" | tee -a "$out"
    start=$(date +%s)
    (cd "$repo" && mvn -B -o verify -pl vector-index -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
        -Dit.test=SearchQualityIT -Dclawfs.eval.model="$m" -Dclawfs.eval.docs="$docs" -Dclawfs.eval.maxTokens="$w" \
        > "/tmp/search-quality-$m-$w.log" 2>&1) || echo "(the run failed or hybrid lost: see /tmp/search-quality-$m-$w.log)" | tee -a "$out"
    echo "wall time: $(( $(date +%s) - start )) s" | tee -a "$out"
    f=$(ls -t "$repo"/vector-index/target/search-reports/quality-"$m"*.md 2>/dev/null | head -1)
    [ -n "$f" ] && sed -n '1,12p' "$f" | tee -a "$out"
    echo | tee -a "$out"
  done
done
echo "report: $out"
