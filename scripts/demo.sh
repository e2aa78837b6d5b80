#!/bin/sh
# Cairn's main job on embedded defaults: the server with a SQLite catalog and a local repository
# under .cairn-demo/, and a job "demo" that backs up /usr/share/doc, run at once and then hourly.
# The API listens on 127.0.0.1:8470 (CAIRN_DEMO_LISTEN to change); Ctrl-C stops the server.
set -eu
cd "$(dirname "$0")/.."
DEMO=${CAIRN_DEMO_DIR:-$PWD/.cairn-demo}
SOURCE=${CAIRN_DEMO_SOURCE:-/usr/share/doc}
exec bin/cairn server --demo --data-dir "$DEMO/server" --demo-source "$SOURCE" \
  --listen "${CAIRN_DEMO_LISTEN:-127.0.0.1:8470}" "$@"
