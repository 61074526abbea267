#!/usr/bin/env bash
# npm run package -- --arch arm64|x64 [--out DIR] [--from head|worktree] [--reuse-native DIR]
#
# Builds motobio-edge-<version>-linux-<arch>.tar.gz: dist/, production node_modules with every
# native addon compiled from source for the target, models/, systemd/, calibration/, the bundled
# recording, docs, bin/motobio and install.sh. Nothing is downloaded but npm packages:
#   - npm ci --ignore-scripts, so no prebuild-install / node-pre-gyp ever reaches for a binary;
#   - node-gyp against the local Node headers (--nodedir=/usr, /usr/include/node);
#   - arm64 with Debian's crossbuild-essential-arm64 (aarch64-linux-gnu-gcc/g++).
# Work happens in a temp dir; the checkout's node_modules is only read (its TypeScript compiles dist/).
#
# --from head (default) packages the committed tree (git archive HEAD), so a release is a commit;
# --from worktree packages the files as they are now (a developer's try-out).
# --reuse-native DIR (host arch only) copies .node files from an existing node_modules whose addon
# versions match instead of compiling them again (the package test uses the checkout's, which
# npm ci built from source for this same Node ABI).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ARCH="" OUT="$REPO/dist/package" FROM=head REUSE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCH=${2:-}; shift 2 ;;
    --arch=*) ARCH=${1#*=}; shift ;;
    --out) OUT=${2:-}; shift 2 ;;
    --from) FROM=${2:-}; shift 2 ;;
    --reuse-native) REUSE=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "package: unknown argument '$1'; usage: npm run package -- --arch arm64|x64 [--out DIR] [--from head|worktree]" >&2; exit 2 ;;
  esac
done
HOST_ARCH=$(node -p process.arch)
case "$ARCH" in
  arm64) CROSS=aarch64-linux-gnu; ELF_RE='ARM aarch64' ;;
  x64) CROSS=x86_64-linux-gnu; ELF_RE='x86-64' ;;
  "") echo "package: --arch is required (arm64 for the unit, x64 for a PC); e.g. npm run package -- --arch arm64" >&2; exit 2 ;;
  *) echo "package: --arch $ARCH is not supported; use arm64 (the Cortex-A53 unit) or x64" >&2; exit 2 ;;
esac
case "$FROM" in head|worktree) ;; *) echo "package: --from must be head or worktree, not '$FROM'" >&2; exit 2 ;; esac
if [ -n "$REUSE" ] && [ "$ARCH" != "$HOST_ARCH" ]; then
  echo "package: --reuse-native only works for the host's own arch ($HOST_ARCH); $ARCH addons must be cross-compiled" >&2; exit 2
fi

NODEDIR=${npm_config_nodedir:-/usr}
if [ ! -f "$NODEDIR/include/node/node_version.h" ]; then
  echo "package: no Node headers in $NODEDIR/include/node; install the Node 20 headers (Debian: libnode-dev or the nodejs package that ships them) or set npm_config_nodedir" >&2; exit 1
fi
if [ "$ARCH" != "$HOST_ARCH" ] && ! command -v "$CROSS-g++" >/dev/null; then
  echo "package: $CROSS-g++ not found; apt-get install crossbuild-essential-$ARCH" >&2; exit 1
fi
if [ ! -x "$REPO/node_modules/.bin/tsc" ]; then
  echo "package: $REPO/node_modules has no TypeScript; run npm ci in the checkout first" >&2; exit 1
fi
command -v file >/dev/null || { echo "package: the 'file' command is missing (apt-get install file); it checks each addon's architecture" >&2; exit 1; }

VERSION=$(node -p "require('$REPO/package.json').version")
NAME="motobio-edge-$VERSION-linux-$ARCH"
NODE_ABI=$(node -p "require('fs').readFileSync('$NODEDIR/include/node/node_version.h','utf8').match(/#define NODE_MODULE_VERSION (\\d+)/)[1]")
NODE_MAJOR=$(node -p "require('fs').readFileSync('$NODEDIR/include/node/node_version.h','utf8').match(/#define NODE_MAJOR_VERSION (\\d+)/)[1]")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/motobio-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE="$WORK/tree" STAGE="$WORK/$NAME"
mkdir -p "$TREE" "$STAGE"
t0=$(date +%s)
say() { echo "package[$ARCH] $(( $(date +%s) - t0 ))s: $*"; }

PATHS=(package.json package-lock.json .npmrc tsconfig.json src models systemd calibration docs README.md)
if [ "$FROM" = head ]; then
  COMMIT=$(git -C "$REPO" rev-parse HEAD)
  git -C "$REPO" archive --format=tar HEAD "${PATHS[@]}" | tar -x -C "$TREE"
else
  COMMIT="$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)+worktree"
  tar -C "$REPO" -c "${PATHS[@]}" | tar -x -C "$TREE"
fi
say "sources from $FROM ($COMMIT)"

# dist/: compiled in the temp tree with the checkout's dev dependencies (read only).
ln -s "$REPO/node_modules" "$TREE/node_modules"
# Not part of the unit: the fleet server (src/fleet, `motobio fleet ...`; its dependencies pg and
# PGlite are dev dependencies) and the workstation tools (src/offline: model build, quantizers,
# SB3 import, signal and model evaluation, latency bench, config docs; `motobio eval|bench|detect|model`
# and the package smoke test's SB3 import check). On the unit those commands answer where they
# run (src/cli/not-installed.ts). Excluded here, and checked below: tsc compiles an excluded file
# anyway when a shipped one imports it.
EXCLUDE=(src/fleet src/offline "src/cli/commands/fleet-*.ts" src/cli/fleet-options.ts
  src/cli/commands/eval.ts src/cli/commands/bench.ts src/cli/commands/detect.ts src/cli/commands/model.ts
  src/package/smoke-sb3.ts)
EXCLUDE_JSON=$(printf '"%s",' "${EXCLUDE[@]}")
cat > "$TREE/tsconfig.package.json" <<EOF
{ "extends": "./tsconfig.json", "compilerOptions": { "rootDir": ".", "outDir": "dist", "sourceMap": false }, "include": ["src"],
  "exclude": [${EXCLUDE_JSON%,}] }
EOF
node "$REPO/node_modules/typescript/bin/tsc" -p "$TREE/tsconfig.package.json"
rm "$TREE/node_modules"
shipped=()
for x in "${EXCLUDE[@]}"; do
  js=${x%.ts}; [ "$js" = "$x" ] || js="$js.js"
  # shellcheck disable=SC2206 # the glob (fleet-*.js) is meant to expand
  for f in "$TREE"/dist/$js; do [ -e "$f" ] && shipped+=("${f#"$TREE"/dist/}"); done
done
if [ "${#shipped[@]}" -gt 0 ]; then
  echo "package: ${shipped[*]} compiled into dist/: something the unit runs imports the fleet server or a workstation tool; the unit must not carry them (find the importer: grep -rn 'offline/\|fleet/' src --include=*.ts)" >&2; exit 1
fi
say "compiled dist/ (without the fleet server and the workstation tools)"

# Production dependencies, no install scripts: nothing fetches a prebuilt binary. --prefer-offline
# takes the tarballs the checkout's own npm ci left in the cache (the lockfile pins them by hash).
cp "$TREE/package.json" "$TREE/package-lock.json" "$TREE/.npmrc" "$STAGE/"
(cd "$STAGE" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
# A developer's .npmrc may one day carry a registry token: it never ships.
rm -f "$STAGE/.npmrc"
say "npm ci --omit=dev"

GYP="node $(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
if [ "$ARCH" != "$HOST_ARCH" ]; then
  export CC=$CROSS-gcc CXX=$CROSS-g++ LINK=$CROSS-g++ AR=$CROSS-ar CC_host=gcc CXX_host=g++ LINK_host=g++ AR_host=ar
fi
# name | node-gyp extra arguments (bluetooth-hci-socket's gyp file expects node-pre-gyp's variables)
ADDONS=(
  "better-sqlite3|"
  "@serialport/bindings-cpp|"
  "@abandonware/bluetooth-hci-socket|--module_name=bluetooth_hci_socket --module_path=lib/binding"
  "unix-dgram|"
)
for entry in "${ADDONS[@]}"; do
  mod=${entry%%|*} extra=${entry#*|}
  dir="$STAGE/node_modules/$mod"
  if [ ! -d "$dir" ]; then
    # unix-dgram and the HCI socket are optional dependencies: the daemon runs without them.
    say "$mod not installed (optional), skipped"; continue
  fi
  ver=$(node -p "require('$dir/package.json').version")
  if [ -n "$REUSE" ] && [ -d "$REUSE/$mod/build/Release" ] && [ "$(node -p "require('$REUSE/$mod/package.json').version")" = "$ver" ]; then
    mkdir -p "$dir/build/Release"
    cp "$REUSE/$mod/build/Release/"*.node "$dir/build/Release/"
    say "$mod $ver reused from $REUSE"
    continue
  fi
  # shellcheck disable=SC2086
  if ! (cd "$dir" && $GYP rebuild --release --arch="$ARCH" --nodedir="$NODEDIR" -j 2 $extra >"$WORK/gyp.log" 2>&1); then
    tail -30 "$WORK/gyp.log" >&2
    echo "package: building $mod $ver for $ARCH failed (log above); check the cross compiler ($CROSS-g++) and the Node headers in $NODEDIR/include/node" >&2
    exit 1
  fi
  say "$mod $ver built for $ARCH"
done

# Keep only what runs on linux-$ARCH: addon intermediates, C sources, other platforms' binaries.
NM="$STAGE/node_modules"
for d in "$NM/better-sqlite3" "$NM/@serialport/bindings-cpp" "$NM/@abandonware/bluetooth-hci-socket" "$NM/unix-dgram"; do
  [ -d "$d/build" ] || continue
  find "$d/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  find "$d/build/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
  rm -rf "$d/deps" "$d/src"
done
rm -f "$NM/better-sqlite3/build/Release/test_extension.node"
rm -rf "$NM/@abandonware/bluetooth-hci-socket/lib/binding"
# Type declarations some dependencies list as dependencies: nothing loads them at run time.
rm -rf "$NM/@types"
for d in "$NM"/onnxruntime-node/bin/napi-v*; do
  find "$d" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  find "$d/linux" -mindepth 1 -maxdepth 1 ! -name "$ARCH" -exec rm -rf {} +
done
# Built from source above, so no shipped prebuilds are needed...
rm -rf "$NM/@serialport/bindings-cpp/prebuilds"
# ...except usb (a USB-dongle path of the HCI socket, not used with the kernel's HCI): its npm
# package ships linux-$ARCH; building it would need libudev for the target.
if [ -d "$NM/usb/prebuilds" ]; then
  find "$NM/usb/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$ARCH" -exec rm -rf {} +
  rm -rf "$NM/usb/libusb"
fi
STRIP=strip; [ "$ARCH" != "$HOST_ARCH" ] && STRIP=$CROSS-strip
find "$NM" -name '*.node' -path '*/build/Release/*' -exec "$STRIP" --strip-unneeded {} +

# Every addon must be an ELF for the target; one built for the host would crash on the unit.
bad=0
while IFS= read -r f; do
  desc=$(file -b "$f")
  if ! grep -q "$ELF_RE" <<<"$desc"; then echo "package: $f is not built for $ARCH: $desc" >&2; bad=1; fi
done < <(find "$NM" -name '*.node')
[ "$bad" = 0 ] || { echo "package: addons for the wrong architecture (above); nothing was written" >&2; exit 1; }
say "addons checked: $(find "$NM" -name '*.node' | wc -l) files, all $ELF_RE"

cp -r "$TREE/dist" "$TREE/models" "$TREE/systemd" "$TREE/calibration" "$STAGE/"
mkdir -p "$STAGE/src/sources" "$STAGE/docs" "$STAGE/bin"
cp -r "$TREE/src/sources/recordings" "$STAGE/src/sources/"
cp "$TREE"/docs/*.md "$STAGE/docs/"
cp "$TREE/README.md" "$STAGE/"
install -m 0755 "$REPO/.ci/package/motobio.sh" "$STAGE/bin/motobio"
install -m 0755 "$REPO/.ci/package/install.sh" "$STAGE/install.sh"
cat > "$STAGE/BUILD-INFO" <<EOF
name=motobio-edge
version=$VERSION
arch=$ARCH
commit=$COMMIT
node_major=$NODE_MAJOR
node_abi=$NODE_ABI
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
# Root-owned, world-readable code: the service user reads it, nobody but root changes it.
chmod -R u=rwX,go=rX "$STAGE"
chmod 0755 "$STAGE/bin/motobio" "$STAGE/install.sh"

mkdir -p "$OUT"
tar -C "$WORK" --owner=0 --group=0 --numeric-owner --sort=name -czf "$OUT/$NAME.tar.gz.part" "$NAME"
mv "$OUT/$NAME.tar.gz.part" "$OUT/$NAME.tar.gz"
say "wrote $OUT/$NAME.tar.gz ($(du -h "$OUT/$NAME.tar.gz" | cut -f1))"
