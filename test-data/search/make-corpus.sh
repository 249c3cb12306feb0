#!/usr/bin/env bash
# Extracts the search corpus (the files named in corpus-manifest.txt) from Debian's
# linux-source-6.1 tarball into OUTDIR, keeping paths like Documentation/filesystems/fuse.rst.
#
# Usage: make-corpus.sh OUTDIR
# Environment: LINUX_SOURCE_TARBALL overrides /usr/src/linux-source-6.1.tar.xz.
#
# One pass over the xz stream with an exact file list. When OUTDIR already holds the complete
# corpus for this manifest, it returns at once without touching the tarball.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/corpus-manifest.txt"
tarball="${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}"
stamp_name=".corpus-complete"

die() {
  echo "make-corpus.sh: $*" >&2
  exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: make-corpus.sh OUTDIR"
outdir="$1"
[[ -s "$manifest" ]] || die "manifest $manifest is missing or empty"

manifest_sum="$(sha256sum "$manifest" | cut -d' ' -f1)"

# Every manifest file present and non-empty, and the stamp written for this very manifest.
corpus_complete() {
  [[ -f "$outdir/$stamp_name" && "$(cat "$outdir/$stamp_name")" == "$manifest_sum" ]] || return 1
  local path
  while IFS= read -r path; do
    [[ -s "$outdir/$path" ]] || return 1
  done <"$manifest"
}

if corpus_complete; then
  echo "make-corpus.sh: $outdir already holds the complete corpus ($(wc -l <"$manifest") files)"
  exit 0
fi

[[ -f "$tarball" ]] || die "tarball $tarball not found; install it with: apt-get install linux-source-6.1"

# Members sit under one top directory named like the tarball (linux-source-6.1/).
prefix="$(basename "$tarball")"
prefix="${prefix%.tar.xz}"

mkdir -p "$outdir"
rm -f "$outdir/$stamp_name"
member_list="$(mktemp)"
tar_errors="$(mktemp)"
trap 'rm -f "$member_list" "$tar_errors"' EXIT
sed "s|^|$prefix/|" "$manifest" >"$member_list"

echo "make-corpus.sh: extracting $(wc -l <"$manifest") files from $tarball into $outdir"
# tar exits non-zero when a listed member is absent; the check below names every such file.
tar_status=0
tar -xJf "$tarball" -C "$outdir" --strip-components=1 --no-same-owner --no-wildcards \
  --verbatim-files-from -T "$member_list" 2>"$tar_errors" || tar_status=$?

missing=0
while IFS= read -r path; do
  if [[ ! -s "$outdir/$path" ]]; then
    echo "make-corpus.sh: missing from $tarball: $prefix/$path" >&2
    missing=$((missing + 1))
  fi
done <"$manifest"

if ((missing > 0)); then
  die "$missing manifest file(s) absent from the tarball (has the Debian package moved on? see README.md)"
fi
if ((tar_status != 0)); then
  cat "$tar_errors" >&2
  die "tar failed with status $tar_status"
fi

echo "$manifest_sum" >"$outdir/$stamp_name"
echo "make-corpus.sh: done, $(wc -l <"$manifest") files in $outdir"
