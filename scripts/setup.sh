#!/bin/sh
# Sets up a fresh machine for Cairn: the Debian packages the tests use (when running as root and
# they are missing) and the npm packages, which bring Cairn's own Node 24. Safe to run again.
set -eu
cd "$(dirname "$0")/.."

# Programs the tests and benchmarks run for real (file system tools, peers to compare with).
DEBIAN_PACKAGES="xfsprogs btrfs-progs util-linux acl time postgresql pgbackrest ceph-mon ceph-osd radosgw ceph-common"
# The browser the web UI's end-to-end tests drive (playwright-core, no browser download).
DEBIAN_PACKAGES="$DEBIAN_PACKAGES chromium"

missing=""
for p in $DEBIAN_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "note: Debian packages missing ($missing); tests that need them are skipped" >&2
  fi
fi

npm ci --no-audit --no-fund
