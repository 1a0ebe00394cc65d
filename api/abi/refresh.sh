#!/usr/bin/env bash
# Refreshes the contract artifacts that api/src/chain/bindings.rs reads with alloy's `sol!`:
# ABI and creation bytecode of each contract, cut from the Foundry artifacts in
# verifier-contract/out (builds them first with the npm toolchain). Commit the result: cargo
# builds before the contracts in CI, so the bindings cannot read verifier-contract/out.
# Usage: api/abi/refresh.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
contracts="$here/../../verifier-contract"
cd "$contracts"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
forge=""
for candidate in node_modules/@foundry-rs/forge-*/bin/forge; do
  if [ -x "$candidate" ]; then forge=$candidate; break; fi
done
[ -n "$forge" ] || { echo "refresh.sh: no forge binary under verifier-contract/node_modules/@foundry-rs" >&2; exit 1; }
"$forge" build --offline --use ./tools/solc-shim.js >/dev/null
for name in RevenueOracle SGridVault MockGRID Groth16Verifier; do
  node -e '
    const fs = require("fs");
    const [src, dst] = process.argv.slice(1);
    const a = JSON.parse(fs.readFileSync(src, "utf8"));
    const out = { abi: a.abi, bytecode: { object: a.bytecode.object } };
    fs.writeFileSync(dst, JSON.stringify(out, null, 1) + "\n");
  ' "out/$name.sol/$name.json" "$here/$name.json"
  echo "api/abi/$name.json"
done
