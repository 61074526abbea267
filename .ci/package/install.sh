#!/usr/bin/env bash
# install.sh of a motobio-edge release (run as root from the unpacked tarball):
#
#   ./install.sh [--no-start]     install this release, switch `current` to it, (re)start the service
#   ./install.sh --rollback       switch back to the release that ran before the last switch
#   ./install.sh --status         which releases are installed, which is current and previous
#   --prefix DIR (default /opt/motobio)   --root DIR: lay everything out under DIR (an image
#   being built, or a test); no user is created and systemctl is not called.
#
#   /opt/motobio/releases/<version>/   one directory per release (code, node_modules, models, units)
#   /opt/motobio/current  -> releases/<version>   what runs; switched with one rename(2)
#   /opt/motobio/previous -> releases/<version>   what --rollback goes back to
#   /opt/motobio/bin, /opt/motobio/docs -> current/...   (the unit's ExecStart and Documentation)
#
# State (/var/lib/motobio) and configuration (/etc/motobio) are never touched: an upgrade or a
# rollback keeps the outbox, the calibration profiles and config.yaml.
set -euo pipefail

PREFIX=/opt/motobio ROOT="" MODE=install START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rollback) MODE=rollback; shift ;;
    --status) MODE=status; shift ;;
    --no-start) START=0; shift ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'; see ./install.sh --help" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
BASE="$ROOT$PREFIX"
info() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
field() { sed -n "s/^$1=//p" "$2/BUILD-INFO"; }
SYSTEMD=1; [ -n "$ROOT" ] && SYSTEMD=0

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo ./install.sh); it installs to $PREFIX and under /etc/systemd"; fi

# Switches $BASE/<link> to releases/<version> atomically (a new link renamed over the old one).
point() {
  ln -sfn "releases/$2" "$BASE/.$1.new"
  mv -Tf "$BASE/.$1.new" "$BASE/$1"
}
target() { [ -L "$BASE/$1" ] && basename "$(readlink "$BASE/$1")" || true; }

# Unit, sysusers and tmpfiles entries from the release now current, then the service user.
install_units() {
  local rel="$BASE/current"
  install -D -m 0644 "$rel/systemd/motobio.service" "$ROOT/etc/systemd/system/motobio.service"
  install -D -m 0644 "$rel/systemd/motobio.sysusers.conf" "$ROOT/usr/lib/sysusers.d/motobio.conf"
  install -D -m 0644 "$rel/systemd/motobio.tmpfiles.conf" "$ROOT/usr/lib/tmpfiles.d/motobio.conf"
  [ "$SYSTEMD" = 1 ] || return 0
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/motobio.conf
  elif ! id motobio >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/motobio --no-create-home --shell /usr/sbin/nologin --comment "motobio edge daemon" motobio
    usermod -a -G dialout motobio
  fi
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/motobio.conf
  systemctl daemon-reload
  systemctl enable motobio.service >/dev/null
}

restart() {
  [ "$SYSTEMD" = 1 ] && [ "$START" = 1 ] || return 0
  systemctl restart motobio.service
  info "motobio restarted; follow it with: journalctl -u motobio -f   (health: motobio status)"
}

case "$MODE" in
status)
  info "releases in $BASE/releases: $(ls "$BASE/releases" 2>/dev/null | tr '\n' ' ')"
  info "current: $(target current)   previous: $(target previous)"
  exit 0 ;;
rollback)
  cur=$(target current) prev=$(target previous)
  [ -n "$prev" ] && [ -d "$BASE/releases/$prev" ] || die "no previous release to roll back to under $BASE (releases: $(ls "$BASE/releases" 2>/dev/null | tr '\n' ' ')); install the wanted tarball instead"
  point current "$prev"
  [ -n "$cur" ] && point previous "$cur"
  install_units
  info "rolled back: current is now $prev (was $cur); ./install.sh --rollback again returns to $cur"
  restart
  exit 0 ;;
esac

[ -f "$HERE/BUILD-INFO" ] || die "$HERE has no BUILD-INFO; run install.sh from an unpacked motobio-edge tarball"
VERSION=$(field version "$HERE") ARCH=$(field arch "$HERE") ABI=$(field node_abi "$HERE") MAJOR=$(field node_major "$HERE")
[[ "$VERSION" =~ ^[0-9A-Za-z.+-]+$ ]] || die "BUILD-INFO names a bad version '$VERSION'; the tarball is damaged"
if [ -z "$ROOT" ]; then
  case "$(uname -m)" in aarch64) m=arm64 ;; x86_64) m=x64 ;; *) m=$(uname -m) ;; esac
  [ "$m" = "$ARCH" ] || die "this release is built for linux-$ARCH but this machine is $(uname -m); take the linux-$m tarball"
  command -v node >/dev/null || die "no node on PATH; install Node.js $MAJOR (Debian 13: apt-get install nodejs) and run again"
  have=$(node -p process.versions.modules)
  [ "$have" = "$ABI" ] || die "node $(node -v) has module ABI $have, but this release's native addons are built for Node $MAJOR (ABI $ABI); install Node.js $MAJOR.x (Debian 13: apt-get install nodejs)"
fi

mkdir -p "$BASE/releases"
dest="$BASE/releases/$VERSION"
cur=$(target current)
if [ "$cur" = "$VERSION" ] && cmp -s "$dest/BUILD-INFO" "$HERE/BUILD-INFO"; then
  info "release $VERSION is already current; reinstalling the units only"
else
  # Copied beside the live tree and renamed into place, so a release directory is never half written.
  tmp="$BASE/releases/.incoming-$VERSION"
  rm -rf "$tmp"
  cp -a "$HERE" "$tmp"
  chown -R 0:0 "$tmp" 2>/dev/null || true
  if [ "$cur" = "$VERSION" ]; then
    # The same version rebuilt: keep the running tree as .old until the switch is done.
    rm -rf "$dest.old"; mv "$dest" "$dest.old"; mv "$tmp" "$dest"; rm -rf "$dest.old"
  else
    rm -rf "$dest"; mv "$tmp" "$dest"
    touch "$dest"   # its mtime says when it was installed (pruning keeps the newest spare)
    point current "$VERSION"
    [ -n "$cur" ] && point previous "$cur"
  fi
fi
ln -sfn current/bin "$BASE/bin"
ln -sfn current/docs "$BASE/docs"
install_units
# Keep current, previous and the newest other release; older ones only take flash.
keep="$(target current) $(target previous)"
ls -1t "$BASE/releases" | grep -v '^\.' | while read -r r; do
  case " $keep " in *" $r "*) continue ;; esac
  if [ -z "${spare:-}" ]; then spare=$r; continue; fi
  rm -rf "${BASE:?}/releases/$r"; info "removed old release $r"
done
info "installed $VERSION (linux-$ARCH) in $dest; current -> $VERSION, previous -> $(target previous)"
restart
