#!/bin/sh
# Builds dist-deb/companion-agent_<version>_<arch>.deb for THIS machine's architecture.
#
#   npm run package:deb            (build + package)
#   SKIP_BUILD=1 sh scripts/build-deb.sh   (reuse an existing dist/)
#
# better-sqlite3 and serialport are native. The production node_modules are copied from this
# checkout's node_modules (already built by `npm ci` for this machine) and pruned to production
# packages; a native file for another architecture aborts the build. An arm64 package is therefore
# built on an arm64 machine (CI runner, the unit itself, or an arm64 chroot under qemu-user-static):
# never by packaging an x86 checkout with Architecture: arm64. See docs/packaging.md.
set -eu

cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)

command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }

ARCH=$(dpkg --print-architecture)
NODE_ARCH=$(node -p process.arch)
case "$ARCH:$NODE_ARCH" in
    amd64:x64|arm64:arm64|armhf:arm|i386:ia32) ;;
    *) echo "build-deb: node is $NODE_ARCH but dpkg says $ARCH; native modules would not match" >&2; exit 1 ;;
esac
NAME=companion-agent
VERSION=$(node -p "require('./package.json').version")
OUT_DIR="$ROOT_DIR/dist-deb"
PKG_ROOT="$OUT_DIR/stage/${NAME}_${VERSION}_${ARCH}"
APP="$PKG_ROOT/usr/lib/$NAME"
DEB="$OUT_DIR/${NAME}_${VERSION}_${ARCH}.deb"

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "build-deb: compiling"
    npm run build --silent
fi
[ -f dist/agent/cli/main.js ] || { echo "build-deb: dist/ is missing; run npm run build" >&2; exit 1; }

rm -rf "$PKG_ROOT"
mkdir -p "$APP" "$PKG_ROOT/usr/bin" "$PKG_ROOT/lib/systemd/system" "$PKG_ROOT/etc/$NAME" \
    "$PKG_ROOT/usr/share/doc/$NAME" "$PKG_ROOT/DEBIAN"

# 1. Compiled JS of the three rooms the unit runs (no tests, no bench, no source maps).
mkdir -p "$APP/dist"
for room in agent hal sync; do cp -a "dist/$room" "$APP/dist/$room"; done
find "$APP/dist" -name '*.map' -delete
cp package.json package-lock.json "$APP/"

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
fi
rm -rf "$SPB/src"
node scripts/check-native-arch.mjs "$APP/node_modules" "$ARCH"

# 3. The command, the service, the default config (a conffile), the docs.
install -m 0755 packaging/debian/companion-agent.sh "$PKG_ROOT/usr/bin/$NAME"
install -m 0644 packaging/systemd/$NAME.service "$PKG_ROOT/lib/systemd/system/$NAME.service"
install -m 0644 packaging/debian/config.json "$PKG_ROOT/etc/$NAME/config.json"
install -m 0644 docs/packaging.md "$PKG_ROOT/usr/share/doc/$NAME/packaging.md"

# 4. Control files.
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$PKG_ROOT/DEBIAN/$s"; done
echo "/etc/$NAME/config.json" >"$PKG_ROOT/DEBIAN/conffiles"
chmod -R u+rwX,go+rX,go-w "$PKG_ROOT"
SIZE_KB=$(du -sk --exclude=DEBIAN "$PKG_ROOT" | cut -f1)
cat >"$PKG_ROOT/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: Companion Devices <devices@companion.invalid>
Installed-Size: $SIZE_KB
Depends: nodejs (>= 20), adduser
Recommends: systemd, alsa-utils
Section: misc
Priority: optional
Homepage: https://companion.invalid/
Description: Companion edge agent for bedside calling units
 Receives booked calls from the cloud over MQTT, keeps them in a local SQLite
 store and places them through the cellular modem at the booked time, also
 while the unit is offline. Runs as the systemd service companion-agent.
CONTROL
(cd "$PKG_ROOT" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort |
    xargs -d '\n' md5sum) >"$PKG_ROOT/DEBIAN/md5sums"

rm -f "$DEB"
dpkg-deb --root-owner-group -Zxz --build "$PKG_ROOT" "$DEB" >/dev/null
echo "build-deb: $DEB ($(du -h "$DEB" | cut -f1))"
