#!/bin/sh
# Fetches the pinned Node runtime (packaging/node-runtime) once into a cache, checks it, and prints
# the shell lines that put it first on PATH and point node-gyp at its headers. CI runs everything
# after the system packages under it, so the runtime the tests ran on is the one the package ships:
#
#   rt=$(sh scripts/runtime.sh) && eval "$rt"     # not eval "$(…)": that would hide a failure
#   node --version && npm ci && npm test && npm run package:deb
#
# From the npm registry (reachable where nodejs.org may not be), through npm's own proxy and CA
# settings; the tarball must match the pinned sha512 before anything in it runs. Cache:
# $COMPANION_RUNTIME_DIR, else ~/.cache/companion-agent. Progress goes to stderr.
set -eu
cd "$(dirname "$0")/.."
. ./packaging/node-runtime
case "$(uname -m)" in
    x86_64) arch=x64; want=$NODE_INTEGRITY_x64 ;;
    aarch64) arch=arm64; want=$NODE_INTEGRITY_arm64 ;;
    *) echo "runtime: no Node runtime is pinned for $(uname -m) (packaging/node-runtime)" >&2; exit 1 ;;
esac
cache=${COMPANION_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/companion-agent}
prefix=$cache/node-$NODE_VERSION-linux-$arch
if [ ! -x "$prefix/bin/node" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "runtime: fetching node-linux-$arch@$NODE_VERSION from the npm registry" >&2
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null)
    tgz=$tmp/node-linux-$arch-$NODE_VERSION.tgz
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$got" != "$want" ]; then
        echo "runtime: node-linux-$arch-$NODE_VERSION.tgz is $got; packaging/node-runtime pins $want" >&2
        exit 1
    fi
    mkdir "$tmp/node"
    tar -xzf "$tgz" -C "$tmp/node" --strip-components=1
    [ -f "$tmp/node/include/node/node_api.h" ] || { echo "runtime: the tarball has no headers" >&2; exit 1; }
    v=$("$tmp/node/bin/node" -p process.versions.node)
    [ "$v" = "$NODE_VERSION" ] || { echo "runtime: the tarball's node is $v, not $NODE_VERSION" >&2; exit 1; }
    rm -rf "$prefix"
    mv "$tmp/node" "$prefix" # whole or not at all: a fetch cut short leaves no half runtime
fi
echo "runtime: node $NODE_VERSION (linux-$arch) from $prefix" >&2
q=$(printf '%s' "$prefix" | sed "s/'/'\\\\''/g")
printf "export PATH='%s/bin':\"\$PATH\"\nexport npm_config_nodedir='%s'\n" "$q" "$q"
