// Helpers the verifier's tests share (not a test file: node --test runs
// only *.test.mjs).
import assert from "node:assert/strict";
import { VerifyError } from "../dist/index.js";

// The real `sessiond serve` the Go test (node_test.go) starts, and an API
// call to it.
export const url = process.env.SESSIOND_URL;
export const apiKey = process.env.SESSIOND_API_KEY;
export const issuer = process.env.SESSIOND_ISSUER;
export const audience = process.env.SESSIOND_AUDIENCE;
export const skip = !url && "SESSIOND_URL is not set (node_test.go sets it)";
export const quiet = { warn() {}, error() {} };

export async function api(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

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
