#!/bin/sh
# /usr/bin/companion-agent: runs the packaged agent on the Node runtime shipped inside the package
# (/usr/lib/companion-agent/node: the exact binary it was built and tested with, see
# docs/packaging.md "Runtime"), never on a system node.
# Paths are resolved relative to this script, so the same tree also runs from a throwaway root
# (dpkg -x pkg.deb /tmp/root; /tmp/root/usr/bin/companion-agent --version).
set -e
self=$(readlink -f "$0")
prefix=$(dirname "$(dirname "$self")")          # /usr
root=$(dirname "$prefix")                        # / on a real install
[ "$root" = / ] && root=
lib="$prefix/lib/companion-agent"
node="$lib/node/bin/node"
app="$lib/dist/agent/cli/main.js"
# THE place for the packaged agent's node flags: the service, the CLI and the doctor all start
# here. A young generation of at most 2 MiB and TurboFan on the main thread keep the agent's memory
# small (agent/node-flags.ts); the CLI's shebang line carries the same flags for a checkout.
node_flags="--max-semi-space-size=2 --no-concurrent-recompilation"
# And the environment glibc's malloc reads at start (agent/node-flags.ts NODE_ENV): pinned trim
# threshold, so memory V8's threads freed goes back to the system.
node_env="MALLOC_TRIM_THRESHOLD_=131072"

# Config layers (agent/config/layers.ts), lowest first: the package's defaults (outside /etc,
# replaced by every upgrade), then the operator's /etc/companion-agent/config.json and
# config.d/*.json, then COMPANION_* variables. --config FILE replaces the /etc layers.
: "${COMPANION_DEFAULTS_FILE:=$lib/defaults.json}"
: "${COMPANION_CONFIG_DIR:=$root/etc/companion-agent}"
export COMPANION_DEFAULTS_FILE COMPANION_CONFIG_DIR

# Run by root on a unit, drop to the service user: a root-owned companion.db-wal or backup would
# lock the agent out of its own database. COMPANION_AS_ROOT=1 skips this (recovery only).
if [ "$(id -u)" = 0 ] && [ -z "${COMPANION_AS_ROOT:-}" ] && getent passwd companion >/dev/null 2>&1 \
    && command -v runuser >/dev/null 2>&1; then
    exec runuser -u companion -- env $node_env "$node" $node_flags "$app" "$@"
fi
# COMPANION_* variables are config overrides for the agent; this one is only for the wrapper.
unset COMPANION_AS_ROOT
exec env $node_env "$node" $node_flags "$app" "$@"
