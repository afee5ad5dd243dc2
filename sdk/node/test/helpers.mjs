// Helpers the verifier's tests share (not a test file: node --test runs
// only *.test.mjs).
import assert from "node:assert/strict";
import { VerifyError } from "../dist/index.js";

// eventually waits up to 10 s for cond (a bound on waiting, not a measurement).
export async function eventually(what, cond) {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 10s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// code is "ok" when p resolves, else the VerifyError code it rejects with.
export async function code(p) {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof VerifyError) return e.code;
    throw e;
  }
}
