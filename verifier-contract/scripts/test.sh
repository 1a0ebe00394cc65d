#!/usr/bin/env bash
# Builds and tests gridproof's contracts with the toolchain pinned in package-lock.json (forge,
# anvil, cast and solc-js from npm; nothing else is downloaded). Needs Node.js 20+ with npm.
# Usage: verifier-contract/scripts/test.sh [extra forge test args]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "verifier-contract/scripts/test.sh: npm is required (Node.js 20+)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error

# The platform binary that npm installed (@foundry-rs/forge-<os>-<arch>). Not the npm wrapper
# node_modules/.bin/forge: forge 1.7.1's wrapper exits 0 even when forge fails.
forge=""
for candidate in node_modules/@foundry-rs/forge-*/bin/forge; do
  if [ -x "$candidate" ]; then forge=$candidate; break; fi
done
[ -n "$forge" ] || { echo "verifier-contract/scripts/test.sh: no forge binary under node_modules/@foundry-rs" >&2; exit 1; }
"$forge" --version | head -n 1

# --use: compile with the npm solc-js through the shim (forge runs it as a solc executable).
"$forge" build --offline --use ./tools/solc-shim.js
"$forge" test --offline --use ./tools/solc-shim.js "$@"

# Transaction gas of the contracts' functions (forge isolates each call as a transaction here);
# the tests above already passed, this run only prints the table for the real-proof tests.
"$forge" test --offline --use ./tools/solc-shim.js --gas-report \
  --match-test 'test_submitBatch_acceptsRealProofsAndFinalizes|test_openEpoch_recordsConfigAndEmits|test_endToEnd_realProofsFinalizeAndReleaseYield|test_gasOfOneVerification|test_publishAuditHead_storesAndEmits' \
  | sed -n '/╭/,$p'
