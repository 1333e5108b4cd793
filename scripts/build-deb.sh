#!/bin/sh
# Builds dist-deb/companion-agent_<version>_<arch>.deb for THIS machine's architecture.
#
#   npm run package:deb            (build + package)
#   SKIP_BUILD=1 sh scripts/build-deb.sh   (reuse an existing dist/)
#
# The package is self-contained: it carries the Node runtime that runs this script (the `node` on
# PATH, which `npm ci` built the native modules against and `npm test` tested with; it must be the
# version packaging/node-runtime pins, which scripts/runtime.sh fetches) as
# /usr/lib/companion-agent/node/bin/node, so a unit needs nothing from outside Debian's archive.
# better-sqlite3 and serialport are native. The production node_modules are copied from this
# checkout's node_modules and pruned to production packages; a native file (or runtime) for
# another architecture aborts the build. An arm64 package is therefore built on an arm64 machine
# (CI runner, the unit itself, or an arm64 root under qemu-user-static): docs/packaging.md.
#
# Knobs (all optional):
#   DEB_VERSION=V     package version instead of package.json's (also written into the packaged
#                     package.json, so `companion-agent version` says V)
#   DEB_OVERLAY=DIR   files copied over the staged package root before it is sealed (the install
#                     test uses it for a build with a new migration and changed defaults)
#   DEB_COMPRESS=C    dpkg-deb compressor: xz (default: smallest download over cellular), gzip,
#                     zstd, none (throwaway test builds)
set -eu

cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)

for tool in dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "build-deb: $tool not found (apt-get install dpkg-dev)" >&2; exit 1; }
done

ARCH=$(dpkg --print-architecture)
NODE_ARCH=$(node -p process.arch)
case "$ARCH:$NODE_ARCH" in
    amd64:x64|arm64:arm64|armhf:arm|i386:ia32) ;;
    *) echo "build-deb: node is $NODE_ARCH but dpkg says $ARCH; native modules would not match" >&2; exit 1 ;;
esac
# The runtime the package ships is the pinned one, which CI tests with (packaging/node-runtime).
. ./packaging/node-runtime
RUNNING=$(node -p process.versions.node)
if [ "$RUNNING" != "$NODE_VERSION" ]; then
    echo "build-deb: this checkout runs Node $RUNNING; the package ships Node $NODE_VERSION (packaging/node-runtime)." >&2
    echo "build-deb: build under it: rt=\$(sh scripts/runtime.sh) && eval \"\$rt\" && npm ci && npm test, then build again" >&2
    exit 1
fi
NAME=companion-agent
VERSION=${DEB_VERSION:-$(node -p "require('./package.json').version")}
COMPRESS=${DEB_COMPRESS:-xz}
OUT_DIR="$ROOT_DIR/dist-deb"
PKG_ROOT="$OUT_DIR/stage/${NAME}_${VERSION}_${ARCH}"
APP="$PKG_ROOT/usr/lib/$NAME"
DOC="$PKG_ROOT/usr/share/doc/$NAME"
DEB="$OUT_DIR/${NAME}_${VERSION}_${ARCH}.deb"

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "build-deb: compiling"
    npm run build --silent
fi
[ -f dist/agent/cli/main.js ] || { echo "build-deb: dist/ is missing; run npm run build" >&2; exit 1; }

rm -rf "$PKG_ROOT"
mkdir -p "$APP" "$PKG_ROOT/usr/bin" "$PKG_ROOT/lib/systemd/system" "$DOC" "$PKG_ROOT/DEBIAN"

# 1. Compiled JS of the three rooms the unit runs (no tests, no bench, no source maps).
mkdir -p "$APP/dist"
for room in agent hal sync; do cp -a "dist/$room" "$APP/dist/$room"; done
find "$APP/dist" -name '*.map' -delete
cp package.json package-lock.json "$APP/"
if [ -n "${DEB_VERSION:-}" ]; then
    node -e 'const f=process.argv[1],p=JSON.parse(require("fs").readFileSync(f,"utf8"));p.version=process.argv[2];require("fs").writeFileSync(f,JSON.stringify(p,null,2)+"\n")' \
        "$APP/package.json" "$VERSION"
fi

# 2. Production node_modules only, copied from this checkout (see header). `npm ls` names every
# production package directory; nested ones ride along with their parent.
echo "build-deb: copying production node_modules"
npm ls --omit=dev --parseable --all 2>/dev/null | sed -n "s#^$ROOT_DIR/node_modules/##p" | sort -u |
    awk 'prev == "" || index($0, prev "/") != 1 { print; prev = $0 }' |
    while read -r rel; do
        mkdir -p "$APP/node_modules/$(dirname "$rel")"
        cp -a "node_modules/$rel" "$APP/node_modules/$rel"
    done
# Build leftovers of the native modules: sources, object files, other platforms' prebuilds.
BSQL="$APP/node_modules/better-sqlite3"
rm -rf "$BSQL/deps" "$BSQL/src" "$BSQL/build/deps" "$BSQL/build/Release/obj" \
    "$BSQL/build/Release/obj.target" "$BSQL/build/Release/.deps" "$BSQL/build/Release/test_extension.node"
find "$BSQL/build" -maxdepth 1 -type f -delete
SPB="$APP/node_modules/@serialport/bindings-cpp"
if [ -d "$SPB/prebuilds" ]; then
    find "$SPB/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$NODE_ARCH" -exec rm -rf {} +
    find "$SPB/prebuilds" -name '*musl*' -delete # Debian is glibc
fi
rm -rf "$SPB/src"

# 3. The runtime: the exact node binary that runs this build (docs/packaging.md, "Runtime").
NODE_BIN=$(readlink -f "$(node -p process.execPath)")
mkdir -p "$APP/node/bin"
cp -p "$NODE_BIN" "$APP/node/bin/node"
chmod 0755 "$APP/node/bin/node"
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
NODE_LICENSE=
for l in "$NODE_PREFIX/LICENSE" "$NODE_PREFIX/share/doc/node/LICENSE" "$NODE_PREFIX/share/doc/nodejs/LICENSE" /usr/share/doc/nodejs/LICENSE; do
    if [ -f "$l" ]; then NODE_LICENSE=$l; break; fi
done
[ -n "$NODE_LICENSE" ] || { echo "build-deb: no LICENSE found next to $NODE_BIN; the package must carry Node's licence" >&2; exit 1; }
install -m 0644 "$NODE_LICENSE" "$APP/node/LICENSE"
"$APP/node/bin/node" -e '
    const crypto = require("crypto"), fs = require("fs");
    const sha256 = crypto.createHash("sha256").update(fs.readFileSync(process.execPath)).digest("hex");
    const v = process.versions;
    fs.writeFileSync(process.argv[1], JSON.stringify({ node: v.node, modules: v.modules, napi: v.napi,
        arch: process.arch, sha256, builtFrom: process.argv[2] }, null, 2) + "\n");' \
    "$APP/node/runtime.json" "$NODE_BIN"
node scripts/check-native-arch.mjs "$APP/node_modules" "$ARCH" "$APP/node/bin/node"
# The shipped runtime must load the shipped native addons (same ABI), before anything is packed.
(cd "$APP" && ./node/bin/node -e '
    const D = require("./node_modules/better-sqlite3"); new D(":memory:").close();
    require("./node_modules/@serialport/bindings-cpp");
    console.log(`build-deb: runtime node ${process.version} (ABI ${process.versions.modules}) loads better-sqlite3 and serialport`);')

# 4. The command, the service, the package defaults (NOT a conffile: replaced by every upgrade;
# the operator's settings live in /etc/companion-agent/, which the package never ships), the docs.
install -m 0755 packaging/debian/companion-agent.sh "$PKG_ROOT/usr/bin/$NAME"
install -m 0644 packaging/systemd/$NAME.service "$PKG_ROOT/lib/systemd/system/$NAME.service"
install -D -m 0644 packaging/debian/modules-load.conf "$PKG_ROOT/usr/lib/modules-load.d/$NAME.conf"
install -m 0644 packaging/debian/defaults.json "$APP/defaults.json"
install -m 0644 docs/packaging.md "$DOC/packaging.md"
install -m 0644 packaging/debian/config.example.json "$DOC/config.example.json"
install -m 0644 "$NODE_LICENSE" "$DOC/node-LICENSE"

# 5. Overlay (DEB_OVERLAY), then what the maintainer scripts need to know about this build.
if [ -n "${DEB_OVERLAY:-}" ]; then
    echo "build-deb: overlay from $DEB_OVERLAY"
    cp -a "$DEB_OVERLAY/." "$PKG_ROOT/"
fi
SCHEMA=$(ls "$APP/dist/agent/store/migrations" | grep -E '^[0-9]{4}_.+\.sql$' | sort | tail -n 1 | cut -c1-4 | sed 's/^0*//')
[ -n "$SCHEMA" ] || { echo "build-deb: no migrations in the package" >&2; exit 1; }
echo "$SCHEMA" >"$APP/schema-version"
sed -e "s/@SCHEMA_VERSION@/$SCHEMA/" -e "s/@VERSION@/$VERSION/" packaging/debian/preinst >"$PKG_ROOT/DEBIAN/preinst"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$PKG_ROOT/DEBIAN/$s"; done
chmod 0755 "$PKG_ROOT/DEBIAN/preinst"
# A tzdata upgrade restarts a running agent onto the new zone rules (postinst "triggered").
install -m 0644 packaging/debian/triggers "$PKG_ROOT/DEBIAN/triggers"
chmod -R u+rwX,go+rX,go-w "$PKG_ROOT"

# 6. Control file. Depends are what the runtime and the native addons link against (libc6,
# libstdc++6, libgcc-s1: in every Debian), computed by dpkg-shlibdeps; no nodejs. tzdata: the
# time zone rules bookings are planned with (agent/schedule/tzif.ts reads /usr/share/zoneinfo).
SHLIB_TMP=$(mktemp -d)
trap 'rm -rf "$SHLIB_TMP"' EXIT
mkdir -p "$SHLIB_TMP/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" >"$SHLIB_TMP/debian/control"
ELF_FILES=$(find "$APP" -type f \( -name '*.node' -o -path "$APP/node/bin/node" \) | sort)
# shellcheck disable=SC2086 # one path per word (no spaces in these paths)
SHLIBS=$(cd "$SHLIB_TMP" && dpkg-shlibdeps --warnings=0 -O $ELF_FILES 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || { echo "build-deb: dpkg-shlibdeps found no library dependencies" >&2; exit 1; }
SIZE_KB=$(du -sk --exclude=DEBIAN "$PKG_ROOT" | cut -f1)
NODE_VERSION=$(node -p process.versions.node)
cat >"$PKG_ROOT/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: Companion Devices <devices@companion.invalid>
Installed-Size: $SIZE_KB
Depends: $SHLIBS, adduser, tzdata
Recommends: systemd, alsa-utils
Section: misc
Priority: optional
Homepage: https://companion.invalid/
Description: Companion edge agent for bedside calling units
 Receives booked calls from the cloud over MQTT, keeps them in a local SQLite
 store and places them through the cellular modem at the booked time, also
 while the unit is offline. Runs as the systemd service companion-agent.
 .
 Carries its own Node.js runtime ($NODE_VERSION, the one it was built and
 tested with) under /usr/lib/companion-agent/node; database schema $SCHEMA.
CONTROL
(cd "$PKG_ROOT" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort |
    xargs -d '\n' md5sum) >"$PKG_ROOT/DEBIAN/md5sums"

rm -f "$DEB"
dpkg-deb --root-owner-group "-Z$COMPRESS" --build "$PKG_ROOT" "$DEB" >/dev/null
echo "build-deb: $DEB ($(du -h "$DEB" | cut -f1), node $NODE_VERSION, schema $SCHEMA, $COMPRESS)"
