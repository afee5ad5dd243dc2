// End-to-end tests of the demo app (examples/webapp) in headless Chromium,
// driven by playwright-core. browser_test.go builds and starts the app with
// short lifetimes and runs this file with node --test; to run it by hand:
//
//   go run ./examples/webapp --listen 127.0.0.1:8080 --insecure-dev-cookies --test-endpoints \
//     --access-ttl 20s --refresh-before 5s --idle-timeout 2m --reuse-interval=-1s &
//   SESSIOND_WEBAPP_URL=http://127.0.0.1:8080 node --test browsertest/e2e.test.mjs
//
// The app runs on plain http://127.0.0.1 with --insecure-dev-cookies, so the
// cookies here have no Secure attribute and no __Host-/__Secure- prefix; the
// secure defaults are tested in httpsession's Go tests (docs/browser.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.SESSIOND_WEBAPP_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const CHROMIUM = process.env.SESSIOND_CHROMIUM || "/usr/bin/chromium";
const RESULTS = process.env.SESSIOND_TEST_RESULTS || path.join(here, "test-results");
const ACCESS_TTL = Number(process.env.SESSIOND_ACCESS_TTL_SECONDS || 20);
const REFRESH_BEFORE = Number(process.env.SESSIOND_REFRESH_BEFORE_SECONDS || 5);
const IDLE = Number(process.env.SESSIOND_IDLE_SECONDS || 120);
const HOST = new URL(BASE).hostname;

const ACCESS = "sessiond"; // --insecure-dev-cookies drops the __Host- prefix
const REFRESH = "sessiond-refresh";
const REUSED = "session.refresh_token_reused";

const UA = {
  linux: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
  iphone: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
  windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
};

let browser;

before(async () => {
  await fs.mkdir(RESULTS, { recursive: true });
  // launch() gives every run a fresh temporary profile (user-data-dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

// ---- helpers

async function newContext(t, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 }, ...opts });
  t.after(() => ctx.close());
  return ctx;
}

// login signs user in through the form and waits until the JS client knows
// the access token's expiry (its first refresh after the login redirect).
async function login(page, user = "alice", password = { alice: "wonderland", bob: "builder" }[user]) {
  await page.goto(BASE + "/login");
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(BASE + "/"), page.click("#sign-in")]);
  await page.waitForFunction(() => globalThis.sessiond && globalThis.sessiond.expiresAt() !== null);
}

async function sessionCookies(ctx) {
  const all = await ctx.cookies(); // every path, not only what / would get
  return Object.fromEntries(all.filter((c) => c.name === ACCESS || c.name === REFRESH).map((c) => [c.name, c]));
}

// apiMe calls /api/me through the JS client's fetch wrapper in the page.
function apiMe(page) {
  return page.evaluate(async () => {
    const r = await globalThis.sessiond.fetch("/api/me", { headers: { Accept: "application/json" } });
    return { status: r.status, body: r.ok ? await r.json() : null };
  });
}

// meWithCookie asks /api/me from outside the browser with a raw cookie.
async function meWithCookie(value) {
  const r = await fetch(BASE + "/api/me", { headers: { Cookie: `${ACCESS}=${value}`, Accept: "application/json" } });
  return r.status;
}

async function events(type) {
  const r = await fetch(BASE + "/debug/events?type=" + encodeURIComponent(type));
  assert.equal(r.status, 200, "the app must run with --test-endpoints");
  return (await r.json()).events;
}

function ownKeys(page, area) {
  return page.evaluate((area) => Object.keys(globalThis[area]).filter((k) => k.startsWith("sessiond:")), area);
}

// refreshLog records every refresh request of a context and its status.
function refreshLog(ctx) {
  const log = [];
  ctx.on("request", (req) => {
    if (new URL(req.url()).pathname === "/auth/refresh") log.push({ at: Date.now(), status: null, req });
  });
  ctx.on("response", (res) => {
    const e = log.find((x) => x.req === res.request());
    if (e) e.status = res.status();
  });
  return log;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// sessionCookiesSent returns the names of the app's session cookies in a
// request's Cookie header (from request.allHeaders(), which has the
// cookies the browser attached), whatever their prefix: a build with
// Secure cookies names them __Host-sessiond and __Secure-sessiond-refresh.
function sessionCookiesSent(headers) {
  return (headers.cookie || "")
    .split(";")
    .map((c) => c.trim().split("=")[0])
    .filter((name) => /^(?:__host-|__secure-)?sessiond(?:-refresh)?$/i.test(name));
}

// ---- scenarios

test("login issues a brand-new session cookie (fixation)", { timeout: 30_000 }, async (t) => {
  // The attacker's own valid session, planted in the victim's browser.
  const attacker = await newContext(t);
  await login(await attacker.newPage(), "bob");
  const planted = (await sessionCookies(attacker))[ACCESS].value;

  const victim = await newContext(t);
  await victim.addCookies([{ name: ACCESS, value: planted, url: BASE, httpOnly: true, sameSite: "Lax" }]);
  const page = await victim.newPage();
  await login(page, "alice");

  const after = (await sessionCookies(victim))[ACCESS].value;
  assert.notEqual(after, planted, "the session cookie must change at login");
  const me = await apiMe(page);
  assert.equal(me.status, 200);
  assert.equal(me.body.subject, "alice");
  assert.equal(await meWithCookie(planted), 401, "the pre-login session must be revoked");
});

test("cookies: HttpOnly, SameSite=Lax, host-only, scoped, invisible to document.cookie", { timeout: 30_000 }, async (t) => {
  const ctx = await newContext(t);
  const page = await ctx.newPage();
  await login(page);
  const now = Date.now() / 1000;
  const c = await sessionCookies(ctx);
  assert.deepEqual(Object.keys(c).sort(), [ACCESS, REFRESH]);

  for (const [name, path] of [[ACCESS, "/"], [REFRESH, "/auth/refresh"]]) {
    const k = c[name];
    assert.equal(k.httpOnly, true, `${name} HttpOnly`);
    assert.equal(k.sameSite, "Lax", `${name} SameSite`);
    assert.equal(k.path, path, `${name} Path`);
    assert.equal(k.domain, HOST, `${name} is host-only (no Domain attribute)`);
    // Plain-HTTP dev mode promises exactly this: no Secure (a Secure
    // cookie would not be sent over http), and so no prefix either.
    assert.equal(k.secure, false, `${name} in --insecure-dev-cookies mode`);
    // Max-Age = until the refresh token expires: access TTL + idle window.
    assert.ok(k.expires > now + ACCESS_TTL, `${name} outlives the access token (expires ${k.expires - now}s from now)`);
    assert.ok(k.expires <= now + ACCESS_TTL + IDLE + 2, `${name} does not outlive the refresh token (${k.expires - now}s)`);
    assert.ok(name.length + k.value.length <= 4096, `${name} fits in 4096 bytes`);
  }
  assert.ok(!(await ctx.cookies()).some((k) => /^__host-|^__secure-/i.test(k.name)), "no prefixed cookie over plain http");

  const seen = await page.evaluate(() => {
    document.cookie = "probe=1; path=/";
    return document.cookie;
  });
  assert.match(seen, /probe=1/, "document.cookie works");
  assert.doesNotMatch(seen, /sessiond/, "document.cookie must not expose the session cookies");
});

async function twoTabs(t, ctx) {
  const log = refreshLog(ctx);
  const tab1 = await ctx.newPage();
  await login(tab1);
  const tab2 = await ctx.newPage();
  await tab2.goto(BASE + "/");
  await tab2.waitForFunction(() => globalThis.sessiond && globalThis.sessiond.expiresAt() !== null);
  return { log, tab1, tab2 };
}

test("the client refreshes before expiry; two tabs share one refresh and stay logged in", { timeout: 60_000 }, async (t) => {
  const ctx = await newContext(t);
  const { log, tab1, tab2 } = await twoTabs(t, ctx);
  const exp1 = await tab1.evaluate(() => globalThis.sessiond.expiresAt().getTime());
  const before = log.length;
  const access0 = (await sessionCookies(ctx))[ACCESS].value;

  // Both tabs' timers fire refreshBefore seconds ahead of the same expiry.
  await sleep(Math.max(0, exp1 - Date.now()) + 1500);
  const cycle = log.slice(before);
  assert.equal(cycle.length, 1, `one refresh for both tabs in the cycle, saw ${cycle.length}`);
  assert.equal(cycle[0].status, 200);
  assert.ok(cycle[0].at < exp1, "the refresh happened before the access token expired");
  assert.ok(cycle[0].at >= exp1 - (REFRESH_BEFORE + 2) * 1000, "and not much earlier than refreshBefore");
  assert.notEqual((await sessionCookies(ctx))[ACCESS].value, access0, "the access cookie was renewed");

  for (const tab of [tab1, tab2]) {
    assert.ok((await tab.evaluate(() => globalThis.sessiond.expiresAt().getTime())) > exp1, "each tab knows the new expiry");
    const me = await apiMe(tab);
    assert.equal(me.status, 200, "still logged in after the original access token expired");
  }

  // Both tabs ask for a refresh at the same moment.
  const n = log.length;
  const results = await Promise.all([tab1, tab2].map((p) => p.evaluate(() => globalThis.sessiond.refresh())));
  assert.deepEqual(results, [true, true]);
  assert.equal(log.length - n, 1, "the second tab used the first tab's refresh");
  for (const tab of [tab1, tab2]) assert.equal((await apiMe(tab)).status, 200);
  assert.ok(log.every((e) => e.status === 200), "every refresh succeeded");
  assert.deepEqual(await events(REUSED), [], "no refresh-token reuse was detected");
});

test("two tabs refreshing at once without Web Locks (localStorage fallback)", { timeout: 30_000 }, async (t) => {
  const ctx = await newContext(t);
  await ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "locks", { configurable: true, get: () => undefined });
  });
  const { log, tab1, tab2 } = await twoTabs(t, ctx);
  assert.equal(await tab1.evaluate(() => navigator.locks), undefined);
  for (let round = 0; round < 3; round++) {
    const n = log.length;
    const results = await Promise.all([tab1, tab2].map((p) => p.evaluate(() => globalThis.sessiond.refresh())));
    assert.deepEqual(results, [true, true]);
    assert.equal(log.length - n, 1, `round ${round}: one refresh for both tabs`);
  }
  for (const tab of [tab1, tab2]) assert.equal((await apiMe(tab)).status, 200);
  assert.deepEqual(await events(REUSED), [], "no refresh-token reuse was detected");
});

// A lease that ends further ahead than any holder writes (another script's
// value, a clock set back since) is no tab's: three tabs still share one
// refresh, at once, rather than each waiting the lease out.
test("three tabs without Web Locks, a lease no tab holds: one refresh, at once", { timeout: 60_000 }, async (t) => {
  const ctx = await newContext(t);
  await ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "locks", { configurable: true, get: () => undefined });
  });
  const { log, tab1, tab2 } = await twoTabs(t, ctx);
  const tab3 = await ctx.newPage();
  await tab3.goto(BASE + "/");
  await tab3.waitForFunction(() => globalThis.sessiond && globalThis.sessiond.expiresAt() !== null);
  await tab1.evaluate(() => localStorage.setItem("sessiond:lock", '{"owner":"elsewhere","until":1e309}'));
  const n = log.length;
  const results = await Promise.all(
    [tab1, tab2, tab3].map((p) =>
      p.evaluate(() => Promise.race([globalThis.sessiond.refresh(), new Promise((r) => setTimeout(() => r("waiting"), 10_000))])),
    ),
  );
  assert.deepEqual(results, [true, true, true]);
  assert.equal(log.length - n, 1, "one refresh for the three tabs");
  // The lease no tab held is gone. Usually the lock is released too, but
  // localStorage reaches other tabs asynchronously (no compare-and-swap),
  // so under load two tabs can each read back their own lease and the one
  // that releases last may see the other's value and leave it: a real
  // holder's lease, which ends within one lease (15 s) and then counts as
  // free (seen in CI at a load average of 20).
  const left = await tab1.evaluate(() => [localStorage.getItem("sessiond:lock"), Date.now()]);
  if (left[0] !== null) {
    const lock = JSON.parse(left[0]);
    assert.notEqual(lock.owner, "elsewhere", "the lease no tab held is replaced");
    assert.ok(lock.until > left[1] - 60_000 && lock.until <= left[1] + 15_000, `a lease left behind ends within one lease: ${left[0]}`);
  }
  for (const tab of [tab1, tab2, tab3]) assert.equal((await apiMe(tab)).status, 200);
  assert.deepEqual(await events(REUSED), [], "no refresh-token reuse was detected");
});

test("logout clears the cookies and the client's storage", { timeout: 30_000 }, async (t) => {
  const ctx = await newContext(t);
  const page = await ctx.newPage();
  await login(page);
  const access = (await sessionCookies(ctx))[ACCESS].value;
  await page.evaluate(() => {
    localStorage.setItem("sessiond:app-note", "x");
    sessionStorage.setItem("sessiond:draft", "x");
  });
  assert.ok((await ownKeys(page, "localStorage")).length > 0);

  await Promise.all([page.waitForURL(BASE + "/login"), page.click("#logout")]);
  assert.deepEqual(await sessionCookies(ctx), {}, "no session cookie is left");
  assert.deepEqual(await ownKeys(page, "localStorage"), []);
  assert.deepEqual(await ownKeys(page, "sessionStorage"), []);
  assert.equal(await meWithCookie(access), 401, "the session was revoked server-side");
  await page.goto(BASE + "/");
  assert.equal(new URL(page.url()).pathname, "/login", "a protected page now sends you to the login page");
});

test("signing a device out from the devices page logs it out on its next request", { timeout: 45_000 }, async (t) => {
  const laptop = await newContext(t, { userAgent: UA.linux });
  const phone = await newContext(t, { userAgent: UA.iphone });
  const desktop = await newContext(t, { userAgent: UA.windows });
  const [lp, pp, dp] = await Promise.all([laptop.newPage(), phone.newPage(), desktop.newPage()]);
  // bob: the earlier scenarios leave alice with many sessions (and bob's
  // only one was revoked by the fixation scenario).
  await login(lp, "bob");
  await login(pp, "bob");
  await login(dp, "bob");
  const laptopID = (await apiMe(lp)).body.session_id;

  await pp.goto(BASE + "/devices");
  const rows = pp.locator("#devices tbody tr");
  assert.equal(await rows.count(), 3);
  assert.match(await pp.locator("tr.current").innerText(), /Safari.*iOS|iOS.*Safari/i, "the phone is this device");
  assert.match(await pp.locator(`tr[data-session="${laptopID}"]`).innerText(), /Chrome.*Linux|127\.0\.0\.1/);
  await pp.screenshot({ path: path.join(RESULTS, "devices.png"), fullPage: true });

  // From the phone, sign the laptop out.
  await Promise.all([pp.waitForURL(BASE + "/devices"), pp.locator(`tr[data-session="${laptopID}"] button.revoke`).click()]);
  assert.equal(await rows.count(), 2);

  // The laptop's next request: 401, the refresh is refused, clean state.
  // The client goes to the login page as soon as the refresh is refused,
  // which may tear the page's script down before evaluate returns the
  // status; the cleared cookies and storage below show the same refusal.
  const [me] = await Promise.all([
    apiMe(lp).catch((e) => {
      if (/Execution context was destroyed/.test(String(e))) return null;
      throw e;
    }),
    lp.waitForURL((u) => u.pathname === "/login"),
  ]);
  if (me) assert.equal(me.status, 401);
  assert.deepEqual(await sessionCookies(laptop), {}, "the refused refresh expired the cookies");
  assert.deepEqual(await ownKeys(lp, "localStorage"), []);

  // "Sign out everywhere else": the desktop goes too, the phone stays.
  await Promise.all([pp.waitForURL(BASE + "/devices"), pp.click("#revoke-others")]);
  assert.equal(await rows.count(), 1);
  await dp.goto(BASE + "/");
  assert.equal(new URL(dp.url()).pathname, "/login");
  assert.equal((await apiMe(pp)).status, 200, "this device is still signed in");
});

test("a cross-origin form POST is refused", { timeout: 90_000 }, async (t) => {
  // The attacker's page on another origin (localhost is another site than
  // 127.0.0.1) submits forms to the app as soon as it loads.
  const evil = http.createServer((req, res) => {
    const action = { "/logout": "/logout", "/others": "/devices/revoke-others", "/login": "/login" }[req.url] || "/logout";
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><form id="f" method="POST" action="${BASE}${action}">
      <input name="username" value="bob"><input name="password" value="builder"></form>
      <script>document.getElementById("f").submit()</script>`);
  });
  await new Promise((r) => evil.listen(0, "localhost", r));
  t.after(() => evil.close());
  const evilOrigin = `http://localhost:${evil.address().port}`;

  const ctx = await newContext(t);
  const page = await ctx.newPage();
  await login(page);
  const other = await newContext(t);
  const otherPage = await other.newPage();
  await login(otherPage);

  // The control: this browser's own requests carry the session cookie, and
  // allHeaders() shows it, so its absence below means something.
  const [own] = await Promise.all([page.waitForRequest((r) => r.url() === BASE + "/api/me"), apiMe(page)]);
  assert.equal(sessionCookiesSent(await own.allHeaders()).length, 1, "a same-origin request carries the session cookie");

  for (const [attack, target] of [["/others", "/devices/revoke-others"], ["/logout", "/logout"], ["/login", "/login"]]) {
    const attackPage = await ctx.newPage();
    const [res] = await Promise.all([
      attackPage.waitForResponse((r) => r.url() === BASE + target && r.request().method() === "POST"),
      attackPage.goto(evilOrigin + attack),
    ]);
    const sent = await res.request().allHeaders();
    assert.equal(sent["sec-fetch-site"], "cross-site", `the browser labels the ${target} POST cross-site`);
    // SameSite=Lax: the browser leaves the session cookie off a cross-site
    // POST (SameSite=None would send it, and only the CSRF check would be
    // left between the attacker and the session).
    assert.deepEqual(sessionCookiesSent(sent), [], `the cross-site POST ${target} carried no session cookie`);
    assert.equal(res.status(), 403, `cross-origin POST ${target} must be refused`);
    // The user sees a page that says what happened, not a JSON document.
    await attackPage.waitForSelector("#refused", { timeout: 10_000 });
    const shown = await attackPage.locator("body").innerText();
    assert.ok(!shown.trim().startsWith("{"), `the refusal of ${target} shows raw JSON: ${shown}`);
    await attackPage.close();
  }
  assert.equal((await apiMe(page)).status, 200, "the victim is still logged in");
  assert.equal((await apiMe(page)).body.subject, "alice", "and still as alice");
  assert.equal((await apiMe(otherPage)).status, 200, "the victim's other device was not signed out");
});

test("a cross-site link (top-level GET) carries the Lax session cookie", { timeout: 45_000 }, async (t) => {
  // SameSite=Lax, not Strict: a link from another site opens the app signed
  // in. The page on another origin (localhost is another site than
  // 127.0.0.1) navigates the tab to the app as soon as it loads.
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><script>location.href = ${JSON.stringify(BASE + "/")}</script>`);
  });
  await new Promise((r) => evil.listen(0, "localhost", r));
  t.after(() => evil.close());
  const evilOrigin = `http://localhost:${evil.address().port}`;

  const ctx = await newContext(t);
  const page = await ctx.newPage();
  await login(page);
  const linkPage = await ctx.newPage();
  const [res] = await Promise.all([
    linkPage.waitForResponse((r) => r.url() === BASE + "/" && r.request().isNavigationRequest()),
    linkPage.goto(evilOrigin + "/"),
  ]);
  const sent = await res.request().allHeaders();
  assert.equal(sent["sec-fetch-site"], "cross-site", "the browser labels the navigation cross-site");
  assert.equal(sent["sec-fetch-mode"], "navigate", "a top-level navigation");
  assert.deepEqual(sessionCookiesSent(sent), [ACCESS], "the cross-site GET carried the session cookie");
  assert.equal(res.status(), 200, "the app answers the page, not a redirect to the login page");
  await linkPage.waitForURL(BASE + "/");
});

// Issue 14 #9: next= must never send a signed-in user to another site,
// neither through the page script (resume on /login) nor through the
// server's redirect after the form.
test("next= never leaves the site (script and server)", { timeout: 45_000 }, async (t) => {
  const ctx = await newContext(t);
  const page = await ctx.newPage();
  const left = [];
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame() && !f.url().startsWith(BASE + "/")) left.push(f.url());
  });
  // Server: the form posts next back; "/x/../\evil" became "/\evil", which
  // the browser reads as //evil.
  await page.goto(BASE + "/login?next=" + encodeURIComponent("/x/../\\evil"));
  await page.fill("#username", "alice");
  await page.fill("#password", "wonderland");
  await Promise.all([page.waitForURL(BASE + "/"), page.click("#sign-in")]);
  await page.waitForFunction(() => globalThis.sessiond && globalThis.sessiond.expiresAt() !== null);
  // Script: signed in, /login resumes and replaces the location with next;
  // "/%09/evil" decodes to "/\t/evil", which the browser reads as //evil.
  for (const next of ["/%09/evil", "/%5C/evil", "/\\evil"]) {
    await page.goto(BASE + "/login?next=" + next);
    await page.waitForURL(BASE + "/", { timeout: 10_000 });
  }
  assert.deepEqual(left, [], "navigated away from the site");
  // A genuine local next still works.
  await page.goto(BASE + "/login?next=/devices");
  await page.waitForURL(BASE + "/devices", { timeout: 10_000 });
});

// Issue 15: on a 390 px wide phone the devices table stays inside its card
// and the page never scrolls sideways.
test("the devices page fits a 390 px wide phone", { timeout: 45_000 }, async (t) => {
  const phone = await newContext(t, { userAgent: UA.iphone, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const laptop = await newContext(t, { userAgent: UA.windows });
  const [pp, lp] = await Promise.all([phone.newPage(), laptop.newPage()]);
  await login(lp, "bob");
  await login(pp, "bob");
  await pp.goto(BASE + "/devices");
  await pp.waitForSelector("#devices tbody tr");
  const m = await pp.evaluate(() => {
    const card = document.querySelector(".card");
    return {
      page: document.documentElement.scrollWidth,
      view: document.documentElement.clientWidth,
      cardRight: card.getBoundingClientRect().right,
      tableRight: document.querySelector("#devices").getBoundingClientRect().right,
      cardInnerRight: card.getBoundingClientRect().right - parseFloat(getComputedStyle(card).paddingRight),
    };
  });
  await pp.screenshot({ path: path.join(RESULTS, "devices-390.png"), fullPage: true });
  assert.ok(m.page <= m.view, `the page scrolls sideways: ${m.page} px wide in a ${m.view} px viewport`);
  assert.ok(m.cardRight <= m.view, `the card ends at ${m.cardRight} px, past the ${m.view} px viewport`);
  assert.ok(m.tableRight <= m.cardInnerRight + 0.5, `the table ends at ${m.tableRight} px, past its card (${m.cardInnerRight} px)`);
});

// Issue 15: a device signed out from elsewhere lands on the sign-in page
// with a word about why, not on a bare form.
test("a device signed out from elsewhere is told why", { timeout: 45_000 }, async (t) => {
  const a = await newContext(t, { userAgent: UA.linux });
  const b = await newContext(t, { userAgent: UA.windows });
  const [ap, bp] = await Promise.all([a.newPage(), b.newPage()]);
  await login(ap, "bob");
  await login(bp, "bob");
  const aID = (await apiMe(ap)).body.session_id;
  await bp.goto(BASE + "/devices");
  await Promise.all([bp.waitForURL(BASE + "/devices"), bp.locator(`tr[data-session="${aID}"] button.revoke`).click()]);
  // A's next page: its access cookie is revoked.
  await ap.goto(BASE + "/devices");
  await ap.waitForURL((u) => u.pathname === "/login");
  await ap.waitForSelector("#login-notice", { timeout: 10_000 });
  assert.match(await ap.locator("#login-notice").innerText(), /signed out/i);
  // A plain visit to the sign-in page says nothing of the kind.
  const fresh = await (await newContext(t)).newPage();
  await fresh.goto(BASE + "/login");
  assert.equal(await fresh.locator("#login-notice").count(), 0);
});
