#!/usr/bin/env bash
# `npm install` (respecting package-lock.json) rather than `npm ci`: the registry reachable here has no
# macOS/Windows builds of Hardhat's EDR, so the lock lists only the Linux ones and `npm ci` refuses it.
# Installs Coffer's dependencies with a Node new enough for Hardhat 3 and libp2p v3 (>= 22.13).
# Where the system Node is older, npm runs under the `node@22` npm package instead, and that
# package is also placed in node_modules/.bin so every `npm run` / `npm test` script uses Node 22.
#   bash scripts/setup.sh             install (always)
#   bash scripts/setup.sh --if-needed install only when node_modules is missing or stale
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIRED_NODE="22.13.0"
NODE22_PACKAGE="node@22"
STAMP="node_modules/.coffer-install-stamp"

lock_digest() { sha256sum package-lock.json | cut -d' ' -f1; }

if [[ "${1:-}" == "--if-needed" && -f "$STAMP" && "$(cat "$STAMP")" == "$(lock_digest)" ]]; then
  exit 0
fi

system_node_is_new_enough() {
  command -v node >/dev/null 2>&1 || return 1
  node -e '
    const [a, b, c] = process.versions.node.split(".").map(Number);
    const [x, y, z] = process.argv[1].split(".").map(Number);
    process.exit(a > x || (a === x && (b > y || (b === y && c >= z))) ? 0 : 1);
  ' "$REQUIRED_NODE"
}

start=$(date +%s)
if system_node_is_new_enough; then
  echo "coffer setup: system Node $(node --version) is new enough; installing with npm"
  npm install --no-save --no-audit --no-fund
else
  echo "coffer setup: system Node $(node --version 2>/dev/null || echo none) is older than $REQUIRED_NODE;"
  echo "coffer setup: installing under Node 22 from the npm registry ($NODE22_PACKAGE)"
  # One install under Node 22 that also places the `node` package (Node 22) in node_modules/.bin, first on
  # PATH for every npm script, without recording it in package.json or the lock.
  npx -y -p "$NODE22_PACKAGE" npm install --no-save --no-audit --no-fund "$NODE22_PACKAGE"
fi
# The tests' second chain: Foundry's anvil, a native binary from the npm registry (devDependency).
if ! node_modules/.bin/anvil --version >/dev/null 2>&1; then
  echo "coffer setup: node_modules/.bin/anvil (@foundry-rs/anvil-linux-amd64) does not run on this machine; test/system-anvil.test.ts needs it" >&2
  exit 1
fi
lock_digest > "$STAMP"
echo "coffer setup: done in $(( $(date +%s) - start )) s ($(node_modules/.bin/node --version 2>/dev/null || node --version))"
