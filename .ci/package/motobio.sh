#!/bin/sh
# bin/motobio of a motobio-edge release: runs this release's CLI with the unit's Node 20
# (/usr/bin/node; MOTOBIO_NODE names another). /opt/motobio/bin links to current/bin, so
# resolving this file's real path picks the release that `current` points to.
here=$(dirname "$(readlink -f "$0")")
exec "${MOTOBIO_NODE:-node}" "$here/../dist/src/cli/main.js" "$@"
