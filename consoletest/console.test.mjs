// The operator console in headless Chromium: sign in, find a subject,
// revoke a device (its next verify fails), watch an event arrive in the
// live tail, run the kill switch; axe-core on every page; screenshots.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const base = process.env.SESSIOND_URL;
const key = process.env.SESSIOND_API_KEY;
const shots = process.env.SESSIOND_TEST_RESULTS;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const hostileUA = "<img src=x onerror=window.__pwned=1>\u001b[31mred Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

let browser, page;
const cspViolations = [];

async function api(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { authorization: "Bearer " + key, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function createSession(subject, ua) {
  const r = await api("POST", "/v1/sessions", { subject, client: { ip: "203.0.113.9", user_agent: ua } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

// axe-core, evaluated through the DevTools protocol (the page's CSP
// governs the page's own scripts, not the test's).
async function audit(name) {
  const result = await page.evaluate(async (src) => {
    if (!window.axe) (0, eval)(src);
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  }, axeSource);
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: serious or critical accessibility violations`);
}

async function shot(name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.SESSIOND_CHROMIUM, args: ["--no-sandbox"] });
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  page = await ctx.newPage();
  page.on("console", (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text() + " at " + page.url() + " " + JSON.stringify(m.location())); });
});
after(async () => { await browser?.close(); });

test("sign-in refuses a bad key and accepts the admin key", async () => {
  await page.goto(base + "/console/sessions");
  assert.match(page.url(), /\/console\/signin$/);
  await audit("sign-in");
  await shot("signin");
  await page.fill("#api_key", "sdak_not_a_key");
  await page.click("button[type=submit]");
  await page.getByRole("alert").waitFor();
  await page.fill("#api_key", key);
  await page.click("form.signin button[type=submit]");
  await page.waitForURL(/\/console\/sessions$/);
  const cookies = await page.context().cookies();
  const c = cookies.find((c) => c.name === "__Host-sessiond-console");
  assert.ok(c, "console cookie set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.secure, true);
  assert.equal(c.sameSite, "Strict");
  const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie);
  assert.ok(!stored.includes(key), "the API key is in browser storage");
});

test("find a subject and revoke a device: its next verify fails", async () => {
  const phone = await createSession("alice@example.com", hostileUA);
  await createSession("alice@example.com", "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0");
  await page.fill("#subject", "alice@example.com");
  await page.keyboard.press("Enter");
  await page.getByText("2 session(s) of").waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "a User-Agent ran script");
  assert.ok((await page.textContent("main")).includes("<img src=x onerror"), "the User-Agent is shown as text");
  await audit("sessions");
  await shot("sessions");
  await page.getByRole("button", { name: "Revoke session " + phone.session.id }).click();
  await page.getByText("Revoked 1 session(s).").waitFor();
  const v = await api("POST", "/v1/sessions/verify", { access_token: phone.access_token });
  assert.notEqual(v.status, 200, "the revoked device still verifies");
});

test("an event appears in the live tail", async () => {
  await page.getByRole("link", { name: "Events" }).click();
  await page.waitForURL(/\/console\/events/);
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("tail@example.com", "curl/8.0");
  await page.locator("#tail-rows td", { hasText: "tail@example.com" }).first().waitFor();
  await audit("events");
  await shot("events");
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

test("the kill switch needs its confirmation and reports the count", async () => {
  await createSession("mallory@example.com", "a");
  await createSession("mallory@example.com", "b");
  await page.getByRole("link", { name: "Incident" }).click();
  await page.waitForURL(/\/console\/incident$/);
  await audit("incident");
  await page.fill("#subjects", "mallory@example.com");
  await page.fill("#reason", "stolen laptop");
  await page.fill("#confirm", "revoke");
  await page.click("button.danger");
  await page.getByText("Nothing was revoked").waitFor();
  await page.fill("#subjects", "mallory@example.com");
  await page.fill("#reason", "stolen laptop");
  await page.fill("#confirm", "REVOKE");
  await page.click("button.danger");
  await page.getByText("Revoked 2 session(s).").waitFor();
  await shot("incident");
});

test("keys: rotate signing keys, create an API key shown once", async () => {
  await page.getByRole("link", { name: "Keys" }).click();
  await page.waitForURL(/\/console\/keys$/);
  await page.getByRole("button", { name: "Rotate signing keys" }).click();
  await page.getByText("A new signing key is published").waitFor();
  await page.fill("#name", "reporting");
  await page.getByRole("checkbox", { name: "events:read" }).check();
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const secret = await page.inputValue("#created");
  const r = await fetch(base + "/v1/events", { headers: { authorization: "Bearer " + secret } });
  assert.equal(r.status, 200, "the new events:read key reads events");
  await audit("keys");
  await shot("keys");
});

test("readable on a phone and in the dark theme", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + "/console/sessions?subject=alice%40example.com");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "the page scrolls sideways at 390px");
  await shot("sessions-phone");
  await page.emulateMedia({ colorScheme: "dark" });
  await audit("sessions (dark)");
  await shot("sessions-phone-dark");
});

test("sign out", async () => {
  await page.setViewportSize({ width: 1200, height: 800 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/console\/signin$/);
  await page.goto(base + "/console/sessions");
  assert.match(page.url(), /\/console\/signin$/);
  assert.deepEqual(cspViolations, [], "CSP violations");
});
