#!/usr/bin/env node
// Converts a proofs file v1 (gridproof prove) into the calldata words of RevenueOracle.submitBatch:
// publicInputs in statement order and the proof as EIP-197 words
// [A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y] (the proofs file's b is [[x.c0, x.c1], [y.c0, y.c1]]).
// Numbers stay decimal strings (forge's vm.parseJson* reads them as uint256).
'use strict';
const fs = require('fs');
const NAMES = ['epoch', 'registry_root', 'batch_index', 'total_energy_wh', 'total_revenue_nusd',
  'readings_root', 'interval_seconds', 'schedule_hash'];
const file = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
if (file.version !== 1) throw new Error('not a proofs file v1');
const first = file.batches[0].public_inputs;
const out = {
  epoch: String(file.epoch),
  registry_root: file.registry_root,
  interval_seconds: first.interval_seconds,
  schedule_hash: first.schedule_hash,
  batch_count: file.batches.length,
  batches: file.batches.map((b) => ({
    public_inputs: NAMES.map((n) => String(b.public_inputs[n])),
    proof: [b.proof.a[0], b.proof.a[1], b.proof.b[0][1], b.proof.b[0][0], b.proof.b[1][1],
      b.proof.b[1][0], b.proof.c[0], b.proof.c[1]],
  })),
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
