// Device Bound Session Credentials in real Chromium, against httpsession
// with gateway-like DBSC settings; dbsc_test.go starts the server and runs
// this file. Chromium on Linux binds sessions only with testing switches:
// the DeviceBoundSessions feature without its origin-trial requirement,
// software keys instead of a TPM, and a certificate it trusts (the
// server's SPKI), since DBSC needs a secure origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { chromium } from "playwright-core";

const BASE = process.env.SESSIOND_DBSC_URL;
const CHROMIUM = process.env.SESSIOND_CHROMIUM || "/usr/bin/chromium";
const SPKI = process.env.SESSIOND_DBSC_SPKI;
const BOUND_SECONDS = Number(process.env.SESSIOND_BOUND_COOKIE_SECONDS || 3);

// Playwright passes its own --enable-features; Chromium keeps only the
// last one, so ours repeats it.
const PLAYWRIGHT_FEATURES = "--enable-features=CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies";
const DBSC_FEATURES = [
  "CDPScreenshotNewSurface",
  "SkipListAccountsWithoutGaiaCookies",
  "DeviceBoundSessions:RequireOriginTrialTokens/false",
  "EnableBoundSessionCredentialsSoftwareKeysForManualTesting",
].join(",");

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: [PLAYWRIGHT_FEATURES],
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--enable-features=" + DBSC_FEATURES,
      "--ignore-certificate-errors-spki-list=" + SPKI,
    ],
  });
});

after(async () => {
  await browser?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// events reads the server's DBSC event counts, from Node: the test
// server's certificate is self-signed, and only Chromium is told to trust it.
function events() {
  return new Promise((resolve, reject) => {
    https
      .get(BASE + "/test/events", { rejectUnauthorized: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(JSON.parse(body)));
      })
      .on("error", reject);
  });
}

async function waitFor(what, cond, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(200);
  }
}

test("Chromium registers, refreshes with its key, and a stolen cookie is refused", async (t) => {
  const ctx = await browser.newContext();
  t.after(() => ctx.close());
  const page = await ctx.newPage();
  await page.goto(BASE + "/login");
  // Registration runs in the background after the login response.
  await waitFor("the session to be bound", async () => (await events()).bound === 1);

  let r = await page.goto(BASE + "/me");
  assert.equal(r.status(), 200);
  assert.deepEqual(await r.json(), { subject: "alice", device_bound: true });
  const cookies = await ctx.cookies();
  const bound = cookies.find((c) => c.name === "__Host-sessiond-bound");
  assert.ok(bound, "no bound cookie in " + JSON.stringify(cookies.map((c) => c.name)));
  assert.equal(bound.httpOnly, true);
  assert.equal(bound.secure, true);

  // Past the bound cookie's lifetime Chromium answers the server's
  // challenge with a proof signed by its key, before the request goes out.
  await sleep((BOUND_SECONDS + 1) * 1000);
  r = await page.goto(BASE + "/me");
  assert.equal(r.status(), 200, "the bound session stopped working after its cookie expired");
  const ev = await events();
  assert.ok(ev.refreshed >= 1, "no refresh with a proof: " + JSON.stringify(ev));

  // A thief with the long-lived cookie but not the key: refused.
  const session = (await ctx.cookies()).find((c) => c.name === "__Host-sessiond");
  const thief = await browser.newContext();
  t.after(() => thief.close());
  await thief.addCookies([{ ...session }]);
  const tp = await thief.newPage();
  r = await tp.goto(BASE + "/me");
  assert.equal(r.status(), 401, "the stolen session cookie worked without the device key");
});
