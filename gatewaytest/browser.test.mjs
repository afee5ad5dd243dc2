// Headless Chromium through NGINX and Caddy in front of sessiond's browser
// gateway and the example backend (examples/gateway). browser_test.go
// starts everything and runs this file with node --test; playwright-core
// comes from browsertest/node_modules (npm ci --prefix browsertest).
//
// Plain http://127.0.0.1 with cookie.secure: false, so the cookies are
// named sessiond / sessiond-refresh without Secure or prefixes; the secure
// defaults are tested in Go (internal/gateway, httpsession).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.SESSIOND_PLAYWRIGHT_FROM);
const { chromium } = require("playwright-core");

const PROXIES = JSON.parse(process.env.SESSIOND_PROXIES); // {nginx: "http://127.0.0.1:…", caddy: …}
const API = process.env.SESSIOND_API;
const API_KEY = process.env.SESSIOND_API_KEY;
const CHROMIUM = process.env.SESSIOND_CHROMIUM || "/usr/bin/chromium";
const EXPIRY_WAIT_MS = Number(process.env.SESSIOND_EXPIRY_WAIT_MS);
const COOKIES = ["sessiond", "sessiond-refresh"];

let browser;
let attacker; // a server on another site (localhost, not 127.0.0.1)
let attackerURL;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
      "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  // GET /post?to=URL&field=value… serves a page that auto-submits a form POST to URL.
  attacker = http.createServer((req, res) => {
    const u = new URL(req.url, "http://localhost");
    const to = u.searchParams.get("to");
    u.searchParams.delete("to");
    const fields = [...u.searchParams].map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join("");
    res.setHeader("Content-Type", "text/html");
    res.end(`<!doctype html><form id="f" method="post" action="${to}">${fields}</form><script>document.getElementById("f").submit()</script>`);
  });
  await new Promise((r) => attacker.listen(0, "localhost", r));
  attackerURL = `http://localhost:${attacker.address().port}`;
});

after(async () => {
  await browser?.close();
  attacker?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function newContext(t, opts = {}) {
  const ctx = await browser.newContext(opts);
  t.after(() => ctx.close());
  return ctx;
}

async function sessionCookies(ctx) {
  return (await ctx.cookies()).filter((c) => COOKIES.includes(c.name));
}

// login goes to /app, is sent to the login page, signs in and lands on
// returnPath; it returns the login-code URL the browser redeemed.
async function login(page, base, { user = "alice", password = "wonderland", start = "/app", end = "/app" } = {}) {
  let codeURL = null;
  const onReq = (req) => {
    if (req.url().includes("/sessiond/login?code=")) codeURL = req.url();
  };
  page.on("request", onReq);
  await page.goto(base + start);
  assert.match(page.url(), /\/login\?return_to=/, "without a session the browser must land on the login page");
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(base + end), page.click('button[type="submit"]')]);
  page.off("request", onReq);
  assert.ok(codeURL, "the login went through /sessiond/login?code=");
  return codeURL;
}

async function subject(page) {
  return page.textContent("#subject");
}

// openRefreshPage opens the refresh page in a new tab of ctx, with
// answer(route, n, tab) handling the POSTs its script sends to
// /sessiond/refresh (n counts them from 1), and waits until the tab leaves
// the page. It returns the tab and when each POST went out.
async function openRefreshPage(ctx, base, returnTo, answer, { onWaitLocks } = {}) {
  const page = await ctx.newPage();
  if (onWaitLocks) {
    // Reports the Web Locks held when the page starts its pause before the
    // retry (a wait of 500 ms to 2 s; the attempts' own time limits, 3 s
    // and 15 s, are left alone) and when that wait ends, before the retry
    // is sent: read in the page at those moments, so the answer does not
    // depend on how fast this process samples it.
    await page.exposeFunction("sessiondTestWaitLocks", onWaitLocks);
    await page.addInitScript(() => {
      const setTimeout = window.setTimeout;
      const report = (when) =>
        navigator.locks.query().then((s) => window.sessiondTestWaitLocks(when, s.held.map((l) => l.name)));
      window.setTimeout = function (fn, ms, ...args) {
        if (!(ms >= 500 && ms < 2000)) return setTimeout.call(window, fn, ms, ...args);
        report("wait starts");
        return setTimeout.call(window, () => report("wait ends").then(() => fn(...args)), ms);
      };
    });
  }
  const posts = [];
  await page.route(base + "/sessiond/refresh", (route) => {
    if (route.request().method() !== "POST") return route.fallback();
    posts.push(Date.now());
    return answer(route, posts.length, page);
  });
  await page.goto(base + "/sessiond/refresh?return_to=" + encodeURIComponent(returnTo));
  await page.waitForURL((u) => u.pathname !== "/sessiond/refresh", { timeout: 15_000 });
  return { page, posts };
}

// api GETs path from sessiond's API with the admin key.
async function api(path) {
  const r = await fetch(API + path, { headers: { Authorization: "Bearer " + API_KEY } });
  assert.equal(r.status, 200, "GET " + path);
  return r.json();
}

// The proxies are tested side by side (most of the time is spent waiting
// for access tokens to expire).
test("through each proxy", { concurrency: true }, async (top) => {
  await Promise.all(Object.entries(PROXIES).map(([name, base]) => proxyTests(top, name, base)));
});

async function proxyTests(top, name, base) {
  await top.test(`${name}: log in, identity, expiry, logout`, { timeout: 240_000 }, async (t) => {
    const ctx = await newContext(t);
    const page = await ctx.newPage();
    const codeURL = await login(page, base);
    assert.equal(await subject(page), "alice", "the protected page shows the subject header");
    assert.equal((await sessionCookies(ctx)).length, 2, "access and refresh cookies set");

    await t.test("the login code cannot be used twice", async (t) => {
      const other = await newContext(t);
      const p = await other.newPage();
      const res = await p.goto(codeURL);
      assert.equal(res.status(), 400);
      assert.equal((await sessionCookies(other)).length, 0);
    });

    await t.test("forged identity headers are ignored", async (t) => {
      const forged = { "X-Sessiond-Subject": "mallory", "X-Sessiond-Step-Up": "true" };
      const p = await ctx.newPage();
      await p.setExtraHTTPHeaders(forged);
      await p.goto(base + "/app");
      assert.equal(await subject(p), "alice");
      assert.equal(await p.$("#step-up"), null, "a forged X-Sessiond-Step-Up reached the app");
      await p.close();
      const anon = await newContext(t, { extraHTTPHeaders: forged });
      const q = await anon.newPage();
      await q.goto(base + "/app");
      assert.match(q.url(), /\/login\?return_to=%2Fapp$/, "a forged subject without a session must not get in");
    });

    await t.test("access token expiry crossed by navigation, without the login page", async () => {
      await sleep(EXPIRY_WAIT_MS);
      const seen = [];
      const onNav = (f) => {
        if (f === page.mainFrame()) seen.push(f.url());
      };
      page.on("framenavigated", onNav);
      await page.goto(base + "/app?after=expiry");
      await page.waitForURL(base + "/app?after=expiry");
      await page.waitForSelector("#subject");
      page.off("framenavigated", onNav);
      assert.equal(await subject(page), "alice");
      assert.ok(seen.some((u) => u.includes("/sessiond/refresh?return_to=")), "went through the refresh page: " + seen.join(" "));
      assert.ok(!seen.some((u) => u.includes("/login")), "saw the login page: " + seen.join(" "));
    });

    await t.test("access token expiry crossed by fetch: 401, one refresh, retry", async () => {
      await sleep(EXPIRY_WAIT_MS);
      const refreshes = [];
      const onReq = (req) => {
        if (req.method() === "POST" && req.url().endsWith("/sessiond/refresh")) refreshes.push(req.url());
      };
      page.on("request", onReq);
      const out = await page.evaluate(async () => {
        const r = await window.sessiond.fetch("/api/me", { headers: { Accept: "application/json" } });
        return { status: r.status, body: r.ok ? await r.json() : null };
      });
      page.off("request", onReq);
      assert.equal(out.status, 200);
      assert.equal(out.body.subject, "alice");
      assert.equal(refreshes.length, 1, "exactly one refresh");
    });

    await t.test("the refresh page waits for another tab's refresh (one Web Lock)", async () => {
      const holder = await ctx.newPage();
      await holder.goto(base + "/app");
      // The access token lives 4 s: on a loaded machine it may have expired
      // by now, and the navigation then went through the refresh page,
      // which goes on to /app after goto returned. Take the lock on /app.
      await holder.waitForURL(base + "/app", { timeout: 15_000 });
      // Another tab is refreshing: it holds the lock sessiond.js refreshes under.
      await holder.evaluate(() => new Promise((held) => {
        navigator.locks.request("sessiond-refresh", () => { held(); return new Promise((r) => (window.releaseLock = r)); });
      }));
      const posts = [];
      const onReq = (req) => {
        if (req.method() === "POST" && req.url().endsWith("/sessiond/refresh")) posts.push(Date.now());
      };
      const resume = await ctx.newPage();
      resume.on("request", onReq);
      await resume.goto(base + "/sessiond/refresh?return_to=%2Fapp%3Fresumed%3D1");
      await sleep(1000);
      assert.deepEqual(posts, [], "the refresh page refreshed while another tab held the lock");
      const released = Date.now();
      await holder.evaluate(() => window.releaseLock());
      await resume.waitForURL(base + "/app?resumed=1");
      assert.equal(posts.length, 1);
      assert.ok(posts[0] >= released, "the refresh went out before the lock was released");
      assert.equal(await subject(resume), "alice");
      await holder.close();
      await resume.close();
    });

    await t.test("cross-site POSTs to logout and refresh are refused", async () => {
      for (const route of ["/sessiond/logout", "/sessiond/refresh"]) {
        const p = await ctx.newPage();
        const [res] = await Promise.all([
          p.waitForResponse((r) => r.url() === base + route),
          p.goto(`${attackerURL}/post?to=${encodeURIComponent(base + route)}&return_to=/`),
        ]);
        assert.equal(res.status(), 403, `cross-site POST ${route}`);
        await p.close();
      }
      await page.goto(base + "/app");
      assert.equal(await subject(page), "alice", "the session survived the cross-site POSTs");
    });

    await t.test("open redirects through return_to are refused", async (t) => {
      for (const rt of ["//evil.example", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example"]) {
        const res = await page.goto(base + "/sessiond/refresh?return_to=" + encodeURIComponent(rt));
        assert.equal(res.status(), 400, `refresh page with return_to ${rt}`);
        const [out] = await Promise.all([
          page.waitForResponse((r) => r.url().startsWith(base + "/sessiond/logout")),
          page.waitForURL(base + "/sessiond/logout", { waitUntil: "load" }),
          page.evaluate(({ rt }) => {
            const f = document.createElement("form");
            f.method = "post";
            f.action = "/sessiond/logout";
            const i = document.createElement("input");
            i.name = "return_to";
            i.value = rt;
            f.append(i);
            document.body.append(f);
            f.submit();
          }, { rt }),
        ]);
        assert.equal(out.status(), 400, `logout with return_to ${rt}`);
      }
      const fresh = await newContext(t);
      const p = await fresh.newPage();
      await login(p, base, { start: "/login?return_to=" + encodeURIComponent("//evil.example/"), end: "/app" });
      assert.ok(p.url().startsWith(base), "stayed on the origin: " + p.url());
    });

    await t.test("logout clears the cookies and sends Clear-Site-Data", async () => {
      await page.goto(base + "/app");
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === base + "/sessiond/logout"),
        page.click("#logout"),
      ]);
      assert.equal(res.status(), 303);
      assert.equal((await res.allHeaders())["clear-site-data"], '"cookies", "storage"');
      await page.waitForURL(base + "/");
      assert.equal((await sessionCookies(ctx)).length, 0, "cookies left after logout");
      await page.goto(base + "/app");
      assert.match(page.url(), /\/login\?return_to=/);
    });
  });

  await top.test(`${name}: the refresh page retries once after a network error or a 5xx`, { timeout: 240_000 }, async (t) => {
    const ctx = await newContext(t);
    const first = await ctx.newPage();
    await login(first, base);
    const { session_id: sid } = await first.evaluate(() => fetch("/sessiond/session").then((r) => r.json()));
    await first.close();

    for (const [what, fail] of [
      ["the connection failed", (route) => route.abort("connectionreset")],
      ["a 503", (route) => route.fulfill({ status: 503, contentType: "application/problem+json", body: '{"status":503}' })],
    ]) {
      await t.test(`${what}, then the retry goes through`, async () => {
        const waits = [];
        const { page, posts } = await openRefreshPage(
          ctx,
          base,
          "/app?retried=1",
          (route, n) => (n > 1 ? route.continue() : fail(route)),
          { onWaitLocks: (when, names) => waits.push({ when, names }) },
        );
        assert.equal(page.url(), base + "/app?retried=1", `after ${what} the refresh page gave up`);
        assert.equal(posts.length, 2);
        assert.ok(posts[1] - posts[0] >= 900, `the retry went out ${posts[1] - posts[0]} ms after the failure`);
        assert.deepEqual(
          waits,
          [
            { when: "wait starts", names: ["sessiond-refresh"] },
            { when: "wait ends", names: ["sessiond-refresh"] },
          ],
          "the Web Lock was let go while waiting to retry",
        );
        assert.equal(await subject(page), "alice");
        await page.close();
      });
    }

    await t.test("the refresh succeeded but its answer was lost: the retry is within the reuse interval", async () => {
      let committed, resent;
      const { page, posts } = await openRefreshPage(ctx, base, "/app?lost=1", async (route, n) => {
        if (n > 1) {
          resent = (await ctx.cookies(base + "/sessiond/refresh")).find((c) => c.name === "sessiond-refresh")?.value;
          return route.continue();
        }
        const before = await ctx.cookies();
        const res = await route.fetch(); // the server rotates the refresh token...
        committed = { status: res.status(), token: before.find((c) => c.name === "sessiond-refresh")?.value };
        // ...but the browser never sees the answer: route.fetch stored its
        // cookies in the context, so put back the ones the browser held.
        await ctx.clearCookies();
        await ctx.addCookies(before);
        await route.abort("connectionreset");
      });
      assert.equal(committed.status, 200, "the server did not take the first refresh");
      assert.equal(page.url(), base + "/app?lost=1", "the lost answer signed the user out");
      assert.equal(posts.length, 2);
      assert.ok(committed.token && resent === committed.token, "the retry did not resend the retired refresh token");
      assert.equal(await subject(page), "alice");
      await page.goto(base + "/app?later=1");
      assert.equal(await subject(page), "alice", "the session did not survive the retry");
      assert.equal((await api(`/v1/events?session_id=${sid}&type=session.refresh_token_reused`)).events.length, 0,
        "the retry was recorded as refresh token reuse");
      assert.ok((await api(`/v1/events?session_id=${sid}&type=session.refreshed`)).events.length >= 2,
        "both refreshes reached the server");
      await page.close();
    });

    await t.test("two failures in a row: the login page", async () => {
      const { page, posts } = await openRefreshPage(ctx, base, "/app?twice=1", (route) => route.abort("connectionreset"));
      assert.equal(page.url(), base + "/login?return_to=%2Fapp%3Ftwice%3D1");
      assert.equal(posts.length, 2);
      await page.close();
    });

    await t.test("a 4xx goes to the login page at once, without a retry", async (t) => {
      const cases = [
        // No refresh cookie: sessiond's own 401.
        ["a 401 (no session)", 401, await newContext(t), async (route) => ({ response: await route.fetch() })],
        ["a 403 (a CSRF refusal)", 403, ctx, () => ({ status: 403, contentType: "application/problem+json", body: '{"status":403}' })],
      ];
      for (const [what, want, c, answer] of cases) {
        const statuses = [];
        const { page, posts } = await openRefreshPage(c, base, "/app?over=1", async (route) => {
          const res = await answer(route);
          statuses.push(res.response ? res.response.status() : res.status);
          await route.fulfill(res);
        });
        assert.deepEqual(statuses, [want], what);
        assert.equal(page.url(), base + "/login?return_to=%2Fapp%3Fover%3D1", what);
        assert.equal(posts.length, 1, `${what}: the refresh page retried`);
        await page.close();
      }
    });
  });

  await top.test(`${name}: an admin revocation logs the browser out on its next request`, { timeout: 90_000 }, async (t) => {
    const ctx = await newContext(t);
    const page = await ctx.newPage();
    // One user per proxy: the proxies run side by side.
    const user = { nginx: "bob", caddy: "carol" }[name];
    const pw = { bob: "builder", carol: "pw-carol" }[user];
    await login(page, base, { user, password: pw });
    const r = await fetch(API + "/v1/subjects/" + user + "/sessions", { method: "DELETE", headers: { Authorization: "Bearer " + API_KEY } });
    assert.equal(r.status, 200);
    await page.goto(base + "/app");
    assert.match(page.url(), /\/login\?return_to=%2Fapp$/);
  });
}
