#!/bin/sh
# bin/motobio of a motobio-edge release: runs this release's CLI with the unit's Node 20
# (/usr/bin/node; MOTOBIO_NODE names another). /opt/motobio/bin links to current/bin, so
# resolving this file's real path picks the release that `current` points to.
here=$(dirname "$(readlink -f "$0")")

# The daemon (`motobio run`, the systemd unit's ExecStart) runs with a 1 MB young generation
# instead of V8's 16 MB semi-spaces (which it fills and keeps resident: ~12 MB RSS for a daemon
# that allocates little) and two glibc malloc arenas instead of one per thread. Figures and
# their CPU cost: docs/performance.md, bench/startup-memory.ts (which reads these two lines).
# MOTOBIO_V8_FLAGS (even empty) and MALLOC_ARENA_MAX override them; other commands run as Node's defaults.
MOTOBIO_V8_FLAGS_DEFAULT="--max-semi-space-size=1"
MOTOBIO_MALLOC_ARENA_MAX_DEFAULT=2
if [ "${1:-}" = run ]; then
  export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-$MOTOBIO_MALLOC_ARENA_MAX_DEFAULT}"
  # shellcheck disable=SC2086 # the flags are words
  exec "${MOTOBIO_NODE:-node}" ${MOTOBIO_V8_FLAGS-$MOTOBIO_V8_FLAGS_DEFAULT} "$here/../dist/src/cli/main.js" "$@"
fi
exec "${MOTOBIO_NODE:-node}" "$here/../dist/src/cli/main.js" "$@"
