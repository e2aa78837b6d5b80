#!/bin/sh
# Cairn's main job on embedded defaults: create a local repository, back up a real directory,
# list the snapshots, restore the latest one and compare it with the original.
set -eu
cd "$(dirname "$0")/.."
SOURCE=${CAIRN_DEMO_SOURCE:-/usr/share/doc}
DEMO=${CAIRN_DEMO_DIR:-$PWD/.cairn-demo}
export CAIRN_REPOSITORY="$DEMO/repository"
# A demo password; for real repositories use CAIRN_PASSWORD_FILE or the prompt.
export CAIRN_PASSWORD=${CAIRN_PASSWORD:-cairn-demo}

rm -rf "$DEMO/repository" "$DEMO/restore"
mkdir -p "$DEMO"
echo "== cairn init"
bin/cairn init
echo "== cairn backup $SOURCE"
bin/cairn backup "$SOURCE"
echo "== cairn backup $SOURCE (again: unchanged files are not read)"
bin/cairn backup "$SOURCE"
echo "== cairn snapshots"
bin/cairn snapshots
echo "== cairn restore latest --target $DEMO/restore"
bin/cairn restore latest --target "$DEMO/restore"
echo "== cairn check --read-data"
bin/cairn check --read-data
echo "== comparing the restore with $SOURCE"
diff -r --no-dereference "$SOURCE" "$DEMO/restore$SOURCE"
echo "identical: the restore matches $SOURCE byte for byte"
