#!/bin/bash
# The whole ClawFS test suite: installs what it needs, builds, runs unit tests and the
# real-mount integration tests (/dev/fuse, root for the full-disk test). Finishes in < 20 min.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
"$repo/setup.sh" --deps
cd "$repo"
mvn -B verify "$@"
