#!/usr/bin/env bash
# npm run test:arm64 [-- --tarball FILE]: the arm64 release, run under emulation.
#
#  1. Debian's qemu-user-static, crossbuild-essential-arm64 and mosquitto (apt, as root);
#  2. a sysroot with Node 20 for arm64 from Debian's own arm64 packages: Debian 12's nodejs is
#     18.x, so the sysroot takes Debian 13 (trixie)'s nodejs 20.x + libnode115 and their
#     dependencies, resolved by apt in a private apt root (the host's apt sources and
#     architectures are left alone), fetched with `apt-get --download-only`, unpacked with dpkg -x;
#  3. the arm64 tarball (npm run package -- --arch arm64, unless --tarball names one);
#  4. a reference run of the same dist/ and models on this x86 host (the checkout's node_modules),
#     then the package's smoke test under `qemu-aarch64-static -cpu cortex-a53 -L SYSROOT`,
#     inside a private mount namespace with a Cortex-A53 /proc/cpuinfo (onnxruntime reads it and
#     crashes on the host's x86 text), against a mosquitto on loopback, compared with the reference;
#  5. `motobio run` itself under emulation: healthy, deciding, clean exit on SIGTERM;
#  6. decision latency under emulation, printed as what it is: no measure of the A53.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARBALL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tarball) TARBALL=$(readlink -f "${2:?--tarball needs a file}"); shift 2 ;;
    *) echo "test:arm64: unknown argument '$1'; usage: npm run test:arm64 [-- --tarball motobio-edge-*-linux-arm64.tar.gz]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "test:arm64: run as root (apt-get, unshare -m and mount --bind need it)" >&2; exit 1; }
[ -d "$REPO/node_modules/onnxruntime-node" ] || { echo "test:arm64: run npm ci in the checkout first (the x86 reference run uses its node_modules)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/motobio-arm64.XXXXXX")
MOSQ_PID="" DAEMON_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null || true
  [ -n "$MOSQ_PID" ] && kill "$MOSQ_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
T0=$(date +%s) LAST=$(date +%s)
phase() { local now; now=$(date +%s); echo "test:arm64 [$((now - T0))s total, +$((now - LAST))s]: $*"; LAST=$now; }

export DEBIAN_FRONTEND=noninteractive
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(crossbuild-essential-arm64)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v file >/dev/null || need+=(file)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
phase "host packages ready (qemu-aarch64-static $(qemu-aarch64-static --version | head -1 | awk '{print $3}'))"

# --- sysroot: Debian 13 arm64 nodejs (20.x) and its dependencies, in a private apt root.
SUITE=${MOTOBIO_ARM64_SUITE:-trixie}
APTR="$WORK/apt" SYSROOT="$WORK/sysroot"
mkdir -p "$APTR/etc/apt/sources.list.d" "$APTR/etc/apt/preferences.d" "$APTR/var/lib/apt/lists/partial" \
  "$APTR/var/cache/apt/archives/partial" "$APTR/var/lib/dpkg" "$SYSROOT"
touch "$APTR/var/lib/dpkg/status"
cat > "$APTR/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Architectures: arm64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
APT_OPTS=(-o "Dir=$APTR" -o "Dir::State::status=$APTR/var/lib/dpkg/status" -o APT::Architecture=arm64 -o APT::Architectures=arm64
  -o Dir::Etc::trusted=/etc/apt/trusted.gpg -o Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d -o Debug::NoLocking=1
  -o APT::Sandbox::User=root)
apt-get "${APT_OPTS[@]}" update -qq
echo "test:arm64: Debian $SUITE arm64 nodejs: $(apt-cache "${APT_OPTS[@]}" policy nodejs | sed -n 's/ *Candidate: //p')"
# An empty dpkg status makes apt resolve the whole dependency closure (libc6 included).
apt-get "${APT_OPTS[@]}" install -y -qq --download-only --no-install-recommends nodejs >/dev/null
for deb in "$APTR"/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
# Debian 13 is merged-/usr: /lib is a symlink that base-files would make; qemu -L needs /lib/ld-linux-aarch64.so.1.
[ -e "$SYSROOT/lib" ] || ln -s usr/lib "$SYSROOT/lib"
QEMU=(qemu-aarch64-static -cpu cortex-a53 -L "$SYSROOT")
ARM_NODE=("${QEMU[@]}" "$SYSROOT/usr/bin/node")
echo "test:arm64: arm64 node: $("${ARM_NODE[@]}" -p 'process.version + " " + process.arch + " ABI " + process.versions.modules')"
phase "sysroot ($(ls "$APTR"/var/cache/apt/archives/*.deb | wc -l) Debian packages, $(du -sh "$APTR/var/cache/apt/archives" | cut -f1))"

# --- the arm64 release.
if [ -z "$TARBALL" ]; then
  bash "$REPO/.ci/package/build.sh" --arch arm64 --out "$WORK/out"
  TARBALL=$(ls "$WORK"/out/motobio-edge-*-linux-arm64.tar.gz)
fi
phase "arm64 tarball $(basename "$TARBALL") ($(du -h "$TARBALL" | cut -f1))"
mkdir -p "$WORK/unit"
tar -xzf "$TARBALL" -C "$WORK/unit"
PKG=$(ls -d "$WORK"/unit/motobio-edge-*-linux-arm64)
bad=0
while IFS= read -r f; do
  desc=$(file -b "$f")
  echo "test:arm64: ${f#"$PKG"/}: ${desc%%, BuildID*}"
  case "$desc" in "ELF 64-bit LSB"*"ARM aarch64"*) ;; *) bad=1 ;; esac
done < <(find "$PKG/node_modules" -name '*.node')
[ "$bad" = 0 ] || { echo "test:arm64: FAIL: an addon in the tarball is not an arm64 ELF (above)" >&2; exit 1; }

# --- the same dist/ and models on x86: the reference the emulated run must equal.
REF="$WORK/ref"
mkdir -p "$REF"
cp -a "$PKG/dist" "$PKG/models" "$PKG/src" "$PKG/package.json" "$REF/"
ln -s "$REPO/node_modules" "$REF/node_modules"

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$PORT" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
BROKER="mqtt://127.0.0.1:$PORT"

node "$REF/dist/src/package/smoke.js" --broker "$BROKER" --json "$WORK/ref.json"
phase "x86 reference smoke run"

# A Cortex-A53's /proc/cpuinfo over the host's, in a mount namespace of this command only.
CPUINFO="$REPO/.ci/package/cpuinfo-cortex-a53.txt"
in_a53() { unshare -m --propagation private sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$CPUINFO" "$@"; }
in_a53 "${ARM_NODE[@]}" "$PKG/dist/src/package/smoke.js" --broker "$BROKER" --expect "$WORK/ref.json" --json "$WORK/arm64.json" --timeout-ms 300000
phase "arm64 smoke run under qemu-aarch64 -cpu cortex-a53 (PASS)"

# --- the daemon itself, as the unit starts it: `motobio run` on its embedded defaults (replays the
# bundled record in real time, stores under ./var), until /healthz answers 200 and it has made
# decisions; then SIGTERM must stop it cleanly (exit 0).
HPORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p "$WORK/state"
(cd "$WORK/state" && MOTOBIO_HEALTH__PORT=$HPORT exec unshare -m --propagation private sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' \
  "$CPUINFO" "${ARM_NODE[@]}" "$PKG/dist/src/cli/main.js" run >"$WORK/daemon.log" 2>&1) &
DAEMON_PID=$!
decided() {
  node -e 'fetch(process.argv[1]).then((r) => r.json()).then((s) => process.exit(s.state === "running" && s.counters.decisions >= 2 ? 0 : 1), () => process.exit(1))' \
    "http://127.0.0.1:$HPORT/status"
}
for _ in $(seq 150); do decided && break; kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 2; done
if ! decided; then
  tail -20 "$WORK/daemon.log" >&2
  echo "test:arm64: FAIL: motobio run under emulation did not reach running with 2 decisions within 300 s (log above)" >&2; exit 1
fi
echo "test:arm64: daemon under emulation: $(node -e 'fetch(process.argv[1]).then((r) => r.json()).then((s) => console.log(`state ${s.state}, ${s.counters.beats} beats, ${s.counters.decisions} decisions, ${s.outbox.records} records stored`))' "http://127.0.0.1:$HPORT/status")"
kill -TERM "$DAEMON_PID"
code=0; wait "$DAEMON_PID" || code=$?
DAEMON_PID=""
[ "$code" = 0 ] || { tail -20 "$WORK/daemon.log" >&2; echo "test:arm64: FAIL: the emulated daemon exited $code after SIGTERM, not 0 (log above)" >&2; exit 1; }
phase "motobio run under emulation: healthy, deciding, stopped cleanly on SIGTERM"

echo "test:arm64: decision latency UNDER EMULATION (qemu-user on this x86 host: NO measure of the A53; docs/performance.md has the budget):"
# The latency bench is a workstation tool the release leaves out (src/offline): lay the compiled
# bench (plain JS from this checkout's dist/, no native code) into the throwaway unpacked copy
# and the x86 reference, so it runs on the package's own onnxruntime and better-sqlite3. The
# tarball itself is not touched.
[ -f "$REPO/dist/src/offline/bench/latency.js" ] || (cd "$REPO" && npm run build --silent)
for t in "$PKG" "$REF"; do
  mkdir -p "$t/dist/src/offline/bench"
  cp "$REPO/dist/src/offline/bench/latency.js" "$t/dist/src/offline/bench/"
  cp "$REPO/dist/src/cli/commands/bench.js" "$t/dist/src/cli/commands/"
done
in_a53 "${ARM_NODE[@]}" "$PKG/dist/src/cli/main.js" bench latency --samples 200 \
  --model "$PKG/models/default-policy.manifest.json" --record "$PKG/src/sources/recordings/drive05-ecg-5min" | sed 's/^/  emulated: /'
echo "test:arm64: the same on this x86 host:"
node "$REF/dist/src/cli/main.js" bench latency --samples 200 \
  --model "$REF/models/default-policy.manifest.json" --record "$REF/src/sources/recordings/drive05-ecg-5min" | sed 's/^/  x86: /'
phase "latency printed"
echo "test:arm64: PASS in $(( $(date +%s) - T0 )) s"
