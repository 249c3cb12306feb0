#!/bin/bash
# ClawFS set-up on a fresh Debian 12 machine (run as root):
#   ./setup.sh          install OS packages, build, put `clawfs` on PATH, install the mount(8) and
#                       umount(8) helpers and the systemd unit, create the demo vault
#                       /var/lib/clawfs/main and mount it at /clawfs filled from test-data/
#   ./setup.sh --deps   only install OS packages, build and install the helpers (what ./test.sh needs)
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
mode=${1:-all}

need_pkgs=()
# libkeyutils1: the kernel keyring (clawfs mount --keyring-timeout, clawfs lock)
pkgs=(fuse3 libfuse2 libkeyutils1 rsync git sqlite3 python3 util-linux procps clang llvm libbpf-dev bpftool lld wasi-libc libclang-rt-14-dev-wasm32)
# the tests' search corpus is the Documentation of Debian's kernel source package (test-data/search)
# (systemd-container: MountHelperIT boots systemd in a container where systemd is not PID 1)
[ "$mode" = "--deps" ] && pkgs+=(linux-source-6.1 xz-utils systemd-container)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if ! command -v mvn >/dev/null; then need_pkgs+=(maven); fi
if ! command -v java >/dev/null; then need_pkgs+=(openjdk-17-jdk-headless); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "setup: /dev/fuse is missing; load the fuse module (modprobe fuse)" >&2; exit 1; }

if [ "${CLAWFS_SETUP_NO_BUILD:-}" = 1 ]; then
  echo "setup: not building (CLAWFS_SETUP_NO_BUILD=1: the caller builds, as ./test.sh does)"
else
  echo "setup: building (mvn install)"
  (cd "$repo" && mvn -q -B -DskipTests install)
fi
ln -sf "$repo/clawfs" /usr/local/bin/clawfs
# `mount -t fuse.clawfs`, fstab lines of that type and plain `umount` run these (links to the launcher)
ln -sf "$repo/clawfs" /sbin/mount.fuse.clawfs
ln -sf "$repo/clawfs" /sbin/umount.fuse.clawfs
# systemctl enable --now "clawfs@$(systemd-escape --path /clawfs).service" (see the README)
install -D -m 0644 "$repo/mount/systemd/clawfs@.service" /usr/local/lib/systemd/system/clawfs@.service
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

[ "$mode" = "--deps" ] && exit 0

vault=/var/lib/clawfs/main
key=/etc/clawfs/main.key
mnt=/clawfs
mkdir -p /etc/clawfs "$mnt" "$(dirname "$vault")"
chmod 700 /etc/clawfs
if [ ! -f "$key" ]; then
  # a random passphrase for the demo vault; keep it (or `clawfs passwd` it) before storing real data
  (umask 077 && head -c 24 /dev/urandom | base64 > "$key")
fi
if [ ! -f "$vault/clawfs.vault" ]; then
  clawfs init "$vault" --passphrase-file "$key"
fi
# what clawfs@clawfs.service mounts at /clawfs (only used when that unit is started)
if [ ! -f /etc/clawfs/mounts/clawfs.conf ]; then
  mkdir -p /etc/clawfs/mounts
  printf 'VAULT=%s\nOPTIONS=passphrase_file=%s\n' "$vault" "$key" > /etc/clawfs/mounts/clawfs.conf
fi
if grep -q " $mnt fuse.clawfs " /proc/self/mounts; then
  echo "setup: $mnt is already mounted"
else
  clawfs mount "$vault" "$mnt" --passphrase-file "$key"
fi
if [ ! -e "$mnt/workspaces/test-data" ]; then
  cp -a "$repo/test-data" "$mnt/workspaces/test-data"
  cp -a "$repo/docs/." "$mnt/specs/"
fi
# the librarian: an agent that answers from the files (retrieval only until root gives it a model)
if ! clawfs agent list "$mnt" | grep -q '^librarian '; then
  clawfs agent add librarian "$mnt"
fi
clawfs status "$mnt"
echo "setup: ready. Try: ls $mnt/workspaces/test-data; cat \"$mnt/agents/librarian/ask/how are master keys rotated?\"; clawfs umount $mnt"
echo "setup: to mount it at boot, add to /etc/fstab:  $vault $mnt fuse.clawfs passphrase_file=$key,nofail 0 0"
echo "       or run it as a service:  systemctl enable --now clawfs@clawfs.service  (README: mount(8), fstab and systemd)"
