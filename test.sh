#!/bin/bash
# The whole ClawFS test suite: installs what it needs, builds, runs unit tests and the
# real-mount integration tests (/dev/fuse, root for the full-disk test). Finishes in < 20 min.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
# the packages and the mount(8) helpers; the build is the verify below (which makes the jar the
# helpers and the integration tests run before any of them starts)
CLAWFS_SETUP_NO_BUILD=1 "$repo/setup.sh" --deps
cd "$repo"
mvn -B verify "$@"
