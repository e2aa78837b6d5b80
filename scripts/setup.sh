#!/bin/sh
# Sets up a fresh machine for Cairn: the Debian packages the tests use (when running as root and
# they are missing) and the npm packages, which bring Cairn's own Node 24. Safe to run again.
set -eu
cd "$(dirname "$0")/.."

# Programs the tests and benchmarks run for real (file system tools, peers to compare with).
DEBIAN_PACKAGES="xfsprogs btrfs-progs util-linux acl time postgresql pgbackrest ceph-mon ceph-osd radosgw ceph-common"
# The browser the web UI's end-to-end tests drive (playwright-core, no browser download).
DEBIAN_PACKAGES="$DEBIAN_PACKAGES chromium"
# promtool, which checks the /metrics exposition; it comes with Prometheus' own package, installed
# below without its recommends and without leaving a Prometheus server running or enabled.
DEBIAN_PACKAGES="$DEBIAN_PACKAGES prometheus"

missing=""
for p in $DEBIAN_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages:$missing"
    apt-get update -qq
    others=""
    for p in $missing; do [ "$p" = prometheus ] || others="$others $p"; done
    if [ -n "$others" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $others >/dev/null
    fi
    case " $missing " in
    *" prometheus "*)
      # Only promtool is wanted: no service starts while the package installs (policy-rc.d, when
      # the machine has none of its own), and the one it enables is disabled (a CI machine or a
      # developer's must not run a Prometheus because of the tests).
      own_policy=""
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
      fi
      status=0
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || status=$?
      if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
      [ "$status" = 0 ] || exit "$status"
      if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
      fi
      ;;
    esac
  else
    echo "note: Debian packages missing ($missing); tests that need them are skipped" >&2
  fi
fi

npm ci --no-audit --no-fund
