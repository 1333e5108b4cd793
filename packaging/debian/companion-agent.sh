#!/bin/sh
# /usr/bin/companion-agent: runs the packaged agent with the system's node (nodejs >= 20).
# Paths are resolved relative to this script, so the same tree also runs from a throwaway root
# (dpkg -x pkg.deb /tmp/root; /tmp/root/usr/bin/companion-agent --version).
set -e
self=$(readlink -f "$0")
prefix=$(dirname "$(dirname "$self")")          # /usr
app="$prefix/lib/companion-agent/dist/agent/cli/main.js"
conf="$prefix/../etc/companion-agent/config.json"  # /etc/... on a real install
# A 1 MiB young generation keeps the idle agent's memory small (README: benchmarks); the same
# flags are on the CLI's shebang line.
node_flags="--max-semi-space-size=1"

# Commands without --config read the unit's config, as the service does.
if [ -z "${COMPANION_CONFIG:-}" ] && [ -f "$conf" ]; then
    COMPANION_CONFIG=$(readlink -f "$conf")
    export COMPANION_CONFIG
fi

# Run by root on a unit, drop to the service user: a root-owned companion.db-wal or backup would
# lock the agent out of its own database. COMPANION_AS_ROOT=1 skips this (recovery only).
if [ "$(id -u)" = 0 ] && [ -z "${COMPANION_AS_ROOT:-}" ] && getent passwd companion >/dev/null 2>&1 \
    && command -v runuser >/dev/null 2>&1; then
    exec runuser -u companion -- node $node_flags "$app" "$@"
fi
# COMPANION_* variables are config overrides for the agent; this one is only for the wrapper.
unset COMPANION_AS_ROOT
exec node $node_flags "$app" "$@"
