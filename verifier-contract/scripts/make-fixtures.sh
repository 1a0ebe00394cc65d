#!/usr/bin/env bash
# Regenerates the forge test fixtures from the Rust tool (run from anywhere; needs cargo and node):
#   test/fixtures/keys/{manifest.json,verifying.key}  a tiny development key (S = 4, T = 8)
#   src/Groth16Verifier.sol                            `gridproof export-verifier` of that key
#   test/fixtures/proofs.json                          `gridproof prove` of 7 simulated sites (2 batches)
#   test/fixtures/batches.json                         the same, as EIP-197 calldata words for forge
# A new key changes every file; the forge tests and prover/tests/solidity.rs then follow.
# Usage: scripts/make-fixtures.sh [--new-key]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
fixtures="$here/test/fixtures"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --manifest-path "$root/Cargo.toml" -p gridproof-api
gridproof="$root/target/debug/gridproof"

if [ "${1:-}" = "--new-key" ] || [ ! -f "$fixtures/keys/verifying.key" ]; then
  "$gridproof" setup --sites 4 --readings-per-site 8 --out "$work/keys"
  mkdir -p "$fixtures/keys"
  cp "$work/keys/manifest.json" "$work/keys/verifying.key" "$fixtures/keys/"
  keys="$work/keys"
else
  keys="${GRIDPROOF_FIXTURE_PROVING_KEYS:-}"
  if [ -z "$keys" ]; then
    echo "make-fixtures: the proving key is not committed; pass --new-key or set GRIDPROOF_FIXTURE_PROVING_KEYS to its directory" >&2
    exit 1
  fi
fi

"$gridproof" export-verifier --keys "$fixtures/keys" --out "$here/src/Groth16Verifier.sol" --force
"$gridproof" meter simulate --sites 7 --epoch 20300 --interval-seconds 10800 --readings-per-site 8 \
  --seed gridproof-fixture --out "$work/batch.json"
"$gridproof" prove --keys "$keys" --batch "$work/batch.json" --out "$fixtures/proofs.json" \
  --private-out "$work/private.json" --force
"$gridproof" verify --keys "$fixtures/keys" --proofs "$fixtures/proofs.json"
node "$here/scripts/proofs-to-calldata.js" "$fixtures/proofs.json" > "$fixtures/batches.json"
echo "make-fixtures: wrote $fixtures and src/Groth16Verifier.sol" >&2
