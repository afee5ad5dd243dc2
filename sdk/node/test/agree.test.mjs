// The Node verifier decides as the server (and the Go verifier) on the
// same tokens: claim sets and spellings the server never writes, signed
// with its real key, and a device-bound session's token. Run by
// verifier/agree_test.go (TestVerifiers_AgreeWithServer), which starts an
// in-process sessiond, signs the tokens, checks the server's and the Go
// verifier's answers, and passes the tokens with the wanted verdicts in
// SESSIOND_AGREEMENT_FILE and its build of this package in
// VERIFIER_MODULE; skipped without them (node_test.go runs test/ too).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const file = process.env.SESSIOND_AGREEMENT_FILE;
const skip = !file && "SESSIOND_AGREEMENT_FILE is not set (verifier/agree_test.go sets it)";
const quiet = { warn() {}, error() {} };

test("the Node verifier decides each token as the server does, or as documented", { skip }, async () => {
  const { createVerifier, VerifyError } = await import(pathToFileURL(process.env.VERIFIER_MODULE).href);
  const input = JSON.parse(fs.readFileSync(file, "utf8"));
  // The Go test's clock: the tokens' times are relative to it.
  const v = await createVerifier({ url: input.url, apiKey: input.apiKey, issuer: input.issuer, audience: input.audience,
    logger: quiet, now: () => input.now });
  const lines = [];
  const wrong = [];
  try {
    for (const c of input.cases) {
      let got = "accept";
      try {
        await v.verify(c.token);
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        got = `refuse (${e.code}: ${e.message})`;
      }
      const ok = (got === "accept") === c.accept;
      lines.push(`${ok ? "  " : "✖ "}${c.name.padEnd(44)} ${got}${ok ? "" : `; want ${c.accept ? "accept" : "refuse"}`}`);
      if (!ok) wrong.push(c.name);
    }
  } finally {
    await v.close();
  }
  console.log(lines.join("\n"));
  assert.deepEqual(wrong, [], `the Node verifier decides otherwise than wanted on: ${wrong.join("; ")}`);
});
