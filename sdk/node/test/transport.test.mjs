// The verifier trusts whatever keys the JWKS at url names, and sends its
// API key there. Over plain HTTP to another host anyone on the path can
// swap the JWKS for their own key, and so mint tokens every service behind
// this verifier accepts: the constructor says so to the logger, as the Go
// verifier's New does. A loopback address never leaves the machine. No
// server is needed: nothing is fetched before start().
import { test } from "node:test";
import assert from "node:assert/strict";
import { Verifier } from "../dist/index.js";

test("plain HTTP beyond loopback is warned of", () => {
  const apiKey = "sdak_transport_test_key_0123456789abcdefghij";
  for (const [url, warn] of [
    ["http://192.0.2.2:20515", true],
    ["http://sessiond.invalid:20515", true],
    ["https://192.0.2.2:20515", false],
    ["http://127.0.0.1:20515", false],
    ["http://[::1]:20515", false],
    ["http://localhost:20515", false],
    ["http://localhost.:20715", false], // the same name, fully qualified (RFC 6761 §6.3)
    ["http://[::ffff:127.0.0.1]:20715", false],
    ["http://127.1:20715", false],
  ]) {
    const warnings = [];
    new Verifier({
      url, apiKey, issuer: "iss", audience: "aud",
      logger: { warn: (m, a) => warnings.push(m + " " + JSON.stringify(a ?? {})), error: () => {} },
    });
    const got = warnings.some((w) => w.includes("plain HTTP"));
    assert.equal(got, warn, `${url}: warned ${got}, want ${warn}: ${JSON.stringify(warnings)}`);
    for (const w of warnings) assert.ok(!w.includes(apiKey), "a warning quotes the API key");
  }
});
