// circomlibjs interoperability of `gridproof meter sign` (run by api/tests/cli.rs when
// GRIDPROOF_NODE_INTEROP=1). Needs circomlibjs@0.1.7 on NODE_PATH or in a node_modules above.
//
//   node interop.js verify SIGNED.json [PRIVATE_KEY_HEX]
//     SIGNED.json is what `gridproof meter sign` prints. Recomputes meter message v1 with
//     circomlibjs' Poseidon, checks the signature with verifyPoseidon (and that a tampered one
//     fails), and, given the private key, that prv2pub gives the same public key.
//   node interop.js sign PRIVATE_KEY_HEX SITE_ID EPOCH INTERVAL_SECONDS READINGS_CSV
//     Prints { message, public_key, signature: { r8, s } } made by circomlibjs signPoseidon.
"use strict";
const fs = require("fs");
const { buildEddsa, buildPoseidon } = require("circomlibjs");

const DOMAIN = BigInt("0x" + Buffer.from("gridproof/meter/v1").toString("hex"));

function meterMessage(P, siteId, epoch, interval, readings) {
  const T = readings.length;
  const nChunks = Math.ceil(T / 7);
  const chunks = [];
  for (let k = 0; k < nChunks; k++) {
    let c = 0n;
    for (let j = 0; j < 7; j++) {
      const i = 7 * k + j;
      if (i < T) c += BigInt(readings[i]) << BigInt(32 * j);
    }
    chunks.push(c);
  }
  let h = P([DOMAIN, BigInt(siteId), BigInt(epoch), BigInt(interval), BigInt(T)]);
  for (let i = 0; i < Math.ceil(nChunks / 4); i++) {
    const g = [0, 1, 2, 3].map((j) => (4 * i + j < chunks.length ? chunks[4 * i + j] : 0n));
    h = P([h, ...g]);
  }
  return h;
}

(async () => {
  const eddsa = await buildEddsa();
  const poseidon = await buildPoseidon();
  const F = poseidon.F;
  const P = (xs) => F.toObject(poseidon(xs.map((x) => F.e(x))));
  const [mode, ...args] = process.argv.slice(2);

  if (mode === "verify") {
    const signed = JSON.parse(fs.readFileSync(args[0], "utf8"));
    const problems = [];
    const h = meterMessage(P, signed.site_id, signed.epoch, signed.interval_seconds, signed.readings_wh);
    if (h.toString() !== signed.message) problems.push(`message: circomlibjs ${h}, gridproof ${signed.message}`);
    const A = signed.meter_public_key.map((x) => F.e(BigInt(x)));
    const sig = { R8: signed.signature.r8.map((x) => F.e(BigInt(x))), S: BigInt(signed.signature.s) };
    if (!eddsa.verifyPoseidon(F.e(h), sig, A)) problems.push("verifyPoseidon rejects the signature");
    if (eddsa.verifyPoseidon(F.e(h + 1n), sig, A)) problems.push("verifyPoseidon accepts a tampered message");
    if (args[1]) {
      const pub = eddsa.prv2pub(Buffer.from(args[1], "hex")).map((p) => F.toObject(p).toString());
      if (pub[0] !== signed.meter_public_key[0] || pub[1] !== signed.meter_public_key[1]) {
        problems.push(`prv2pub gives ${pub}, gridproof ${signed.meter_public_key}`);
      }
    }
    console.log(JSON.stringify({ ok: problems.length === 0, problems }));
    process.exit(problems.length === 0 ? 0 : 1);
  } else if (mode === "sign") {
    const [prvHex, siteId, epoch, interval, csv] = args;
    const prv = Buffer.from(prvHex, "hex");
    const readings = csv.split(",").map((x) => Number(x));
    const h = meterMessage(P, siteId, epoch, interval, readings);
    const sig = eddsa.signPoseidon(prv, F.e(h));
    const A = eddsa.prv2pub(prv);
    console.log(JSON.stringify({
      message: h.toString(),
      public_key: [F.toObject(A[0]).toString(), F.toObject(A[1]).toString()],
      signature: { r8: [F.toObject(sig.R8[0]).toString(), F.toObject(sig.R8[1]).toString()], s: sig.S.toString() },
    }));
  } else {
    console.error("usage: node interop.js verify SIGNED.json [KEY_HEX] | sign KEY_HEX SITE EPOCH INTERVAL CSV");
    process.exit(2);
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
