// The operator console in headless Chromium: sign in, find a subject,
// revoke a device (its next verify fails), watch an event arrive in the
// live tail, run the kill switch, retry a dead webhook once its receiver is
// back, read the overview's charts against the API; axe-core on every
// page; screenshots (from one store's run only).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const base = process.env.SESSIOND_URL;
const key = process.env.SESSIOND_API_KEY;
const shots = process.env.SESSIOND_TEST_RESULTS; // "": no screenshots
const receiver = process.env.SESSIOND_RECEIVER_URL;
// Layout and themes do not depend on the store: checked on SQLite only.
const layoutRun = process.env.SESSIOND_STORE === "sqlite";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const hostileUA = "<img src=x onerror=window.__pwned=1>\u001b[31mred Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

let browser, page;
const cspViolations = [];
const pageErrors = [];

async function api(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { authorization: "Bearer " + key, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const subjects = new Set(); // every subject the tests gave a session

async function createSession(subject, ua) {
  subjects.add(subject);
  const r = await api("POST", "/v1/sessions", { subject, client: { ip: "203.0.113.9", user_agent: ua } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

// axe-core, evaluated through the DevTools protocol (the page's CSP
// governs the page's own scripts, not the test's).
async function audit(name, on = page) {
  const result = await on.evaluate(async (src) => {
    if (!window.axe) (0, eval)(src);
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  }, axeSource);
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: serious or critical accessibility violations`);
}

async function shot(name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.SESSIOND_CHROMIUM, args: ["--no-sandbox"] });
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  page = await ctx.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message + " at " + page.url()));
  page.on("console", (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text() + " at " + page.url() + " " + JSON.stringify(m.location())); });
});
after(async () => { await browser?.close(); });

// Signing in returns to the page asked for (here the sessions page),
// through a refused attempt too.
test("sign-in refuses a bad key and accepts the admin key", async () => {
  await page.goto(base + "/console/sessions");
  assert.match(page.url(), /\/console\/signin\?next=%2Fconsole%2Fsessions$/);
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
  await page.getByRole("link", { name: "Sessions" }).click();
  await page.waitForURL(/\/console\/sessions$/);
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
  // The notice is shown once: the URL the browser keeps does not carry
  // it, so a reload (or Back later) does not report the revocation again.
  await page.waitForURL((u) => u.pathname === "/console/sessions" && !u.searchParams.has("revoked"));
  assert.equal(new URL(page.url()).searchParams.get("subject"), "alice@example.com");
  await page.reload();
  await page.getByText("1 session(s) of").waitFor();
  assert.equal(await page.getByText("Revoked 1 session(s).").count(), 0, "a reload showed the revocation notice again");
  // Loaded as a whole page (a link, no htmx), console.js replaces the URL.
  await page.goto(base + "/console/sessions?subject=alice%40example.com&revoked=1");
  await page.getByText("Revoked 1 session(s).").waitFor();
  await page.waitForURL((u) => !u.searchParams.has("revoked"));
  await page.reload();
  await page.getByText("1 session(s) of").waitFor();
  assert.equal(await page.getByText("Revoked 1 session(s).").count(), 0, "a reload of a loaded notice showed it again");
});

// A subject the console escapes (a zero-width space) beside its look-alike
// holding the escape's characters typed: the value copied from a table
// cell finds its own subject, and the field the page fills, sent again,
// finds the same session (it held the escape text, which a second search
// asked for literally: the look-alike's session).
test("sessions: an escaped subject is found from its copied cell and from its field again", async () => {
  const zw = await createSession("zw\u200b@example.com", "curl/8.0");
  const typed = await createSession("zw\\u{200b}@example.com", "curl/8.0");
  const rows = async () => (await page.locator("tbody tr[data-id]").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-id")))).sort();
  // Sends the form and waits for the page it answers with (hx-boost swaps
  // the body: the marked main goes), so that no row is read off the last.
  const send = async (button) => {
    await page.evaluate(() => document.querySelector("main").setAttribute("data-stale", ""));
    await page.getByRole("button", { name: button, exact: true }).click();
    await page.locator("main:not([data-stale])").waitFor();
  };
  // The events page's cell of the zero-width subject: quoted, escaped.
  await page.goto(base + "/console/events?type=session.created");
  const cells = await page.locator('tbody:not(#tail-rows) td[data-label="Subject"]').allTextContents();
  const copied = cells.find((c) => c.startsWith('"zw'));
  assert.equal(copied, '"zw\\u{200b}@example.com"', "the events page's cell of the zero-width subject");
  assert.ok(cells.includes("zw\\u{200b}@example.com"), "the typed look-alike is shown as it is");
  for (const [what, value, want] of [["copied from its cell", copied, zw], ["typed as shown", "zw\\u{200b}@example.com", typed]]) {
    await page.goto(base + "/console/sessions");
    await page.fill("#subject", value);
    await send("Search");
    assert.deepEqual(await rows(), [want.session.id], `searched ${what}`);
    for (let round = 0; round < 2; round++) {
      const field = await page.inputValue("#subject");
      await send("Search");
      assert.deepEqual(await rows(), [want.session.id], `searched ${what}, then the field (${field}) sent again, round ${round}`);
    }
  }
  // Reached by the console's own link (a revoke's answer), not typed.
  const second = await createSession("zw\u200b@example.com", "curl/8.0");
  await page.goto(base + "/console/sessions?" + new URLSearchParams({ subject: copied }));
  await send("Revoke session " + second.session.id);
  await page.getByText("Revoked 1 session(s).").waitFor();
  const field = await page.inputValue("#subject");
  await send("Search");
  assert.deepEqual(await rows(), [zw.session.id], `the field after a revoke (${field}), sent again`);
  // The events page's field too.
  await page.goto(base + "/console/events?" + new URLSearchParams({ subject: copied }));
  const evField = await page.inputValue("#subject");
  await send("Filter");
  const shown = await page.locator('tbody:not(#tail-rows) td[data-label="Subject"]').allTextContents();
  assert.ok(shown.length > 0 && shown.every((c) => c === copied), `events filtered by the field (${evField}) sent again show ${JSON.stringify(shown)}`);
});

// An IP address narrows the subject's sessions, and the page says it is
// no search over every subject.
test("sessions: narrow a subject's sessions by IP address and device", async () => {
  await createSession("ip@example.com", "curl/8.0");
  const r = await api("POST", "/v1/sessions", { subject: "ip@example.com", client: { ip: "198.51.100.77", user_agent: "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0" } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await page.goto(base + "/console/sessions");
  await page.fill("#subject", "ip@example.com");
  await page.fill("#ip", "198.51.100.0/24");
  await page.fill("#device", "android");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByText("1 of the 2 session(s) of").waitFor();
  assert.ok((await page.textContent("main")).includes("no index of sessions by IP address"));
  assert.equal(await page.locator(`tr[data-id="${r.body.session.id}"]`).count(), 1, "the matching session is listed");
  assert.ok((await page.textContent("button.danger")).includes("Revoke all of this subject's sessions (2, not only the 1 shown)"));
  // Revoke others ends the session the filters hide too: its text says
  // so, as its accessible name does.
  const others = page.locator('form[action="/console/sessions/revoke-others"] button');
  assert.equal((await others.textContent()).trim(), "Revoke all others (1, including 1 not shown)");
  assert.equal(await page.getByRole("button", { name: /^Revoke all others \(1, including 1 not shown\): every session of this subject but / }).count(), 1,
    "the accessible name does not begin with the visible text");
  await audit("sessions filtered");
});

// A subject with more sessions than a page shows: the newest 100, a
// link to the older ones (keeping the filters), and the page says its
// counts are not the subject's total.
test("sessions: a subject with many sessions is paged", async () => {
  for (let i = 0; i < 105; i++) await createSession("pages@example.com", "curl/8.0");
  await page.goto(base + "/console/sessions?subject=pages%40example.com&device=curl");
  const heading = await page.textContent("#found");
  assert.match(heading, /^100 of 1\d\d session\(s\) of pages@example\.com match the filters, 100 live: the newest, not all of the subject's$/);
  assert.equal(await page.locator("tbody tr").count(), 100);
  assert.ok((await page.textContent("#page-hint")).includes("not of every session of the subject"));
  assert.ok((await page.textContent("button.danger")).includes("(every one, not only the 100 shown)"));
  await audit("sessions paged");
  await page.getByRole("link", { name: "Older sessions" }).click();
  await page.waitForURL((u) => u.searchParams.has("cursor") && u.searchParams.get("device") === "curl");
  await page.getByText("5 of 5 session(s) of").waitFor();
  assert.equal(await page.locator("tbody tr").count(), 5);
  assert.equal(await page.getByRole("link", { name: "Older sessions" }).count(), 0);
  await audit("sessions older page");
  await page.getByRole("link", { name: "Newest sessions" }).click();
  await page.waitForURL((u) => !u.searchParams.has("cursor"));
  await page.getByText("100 of").waitFor();
});

// Newest first, as `sessiond events`: an operator looks for what just
// happened.
test("events: newest first", async () => {
  await createSession("older@example.com", "curl/8.0");
  await createSession("newer@example.com", "curl/8.0");
  await page.goto(base + "/console/events?type=session.created");
  const subjects = await page.locator("section[aria-labelledby=found] td[data-label=Subject]").allTextContents();
  assert.ok(subjects.length >= 2, "events listed: " + subjects);
  assert.deepEqual(subjects.slice(0, 2), ["newer@example.com", "older@example.com"], "the events page does not list the newest first");
  assert.ok((await page.textContent("#found")).includes("newest first"));
});

// The since field is text in UTC on a 24-hour clock: a datetime-local
// field labelled UTC showed the locale's 12-hour clock (en-US: 03:00 PM).
test("events: since is typed and shown in UTC on a 24-hour clock", async () => {
  await page.goto(base + "/console/events");
  assert.equal(await page.getAttribute("#since", "type"), "text");
  assert.equal(await page.getAttribute("#since", "placeholder"), "2026-12-06T15:04Z");
  const since = new Date(Date.now() - 2 * 3600_000).toISOString().slice(0, 16) + "Z";
  await page.fill("#since", since);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/since=/);
  await page.locator("#found").waitFor();
  assert.equal(await page.inputValue("#since"), since, "the since shown is not the one typed");
  assert.equal(await page.getByRole("alert").count(), 0, "a UTC since was refused");
  await page.fill("#since", "03:00 PM");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("alert").filter({ hasText: "write it as 2026-12-06T15:04Z, in UTC on a 24-hour clock" }).waitFor();
  assert.equal(await page.inputValue("#since"), "03:00 PM", "the field lost what was typed");
  await audit("events with a bad since");
});

// A refused filter (400) leaves the others to the live tail, and the page
// says which was refused: the tail followed every event.
test("events: a refused filter leaves the others to the live tail", async () => {
  await page.goto(base + "/console/events?type=session.created&subject=" + encodeURIComponent("refused-since@example.com") + "&since=" + encodeURIComponent("03:00 PM"));
  await page.getByRole("alert").filter({ hasText: "since is no date and time" }).waitFor();
  assert.equal(await page.getAttribute("#since", "aria-invalid"), "true");
  assert.equal(await page.getAttribute("#since", "aria-describedby"), "page-error", "the refused field does not point at the message");
  assert.equal(await page.getAttribute("#subject", "aria-invalid"), null);
  assert.ok((await page.textContent("section.tail")).includes("without the refused since"), "the live tail does not say it goes without since");
  await audit("events with a refused filter");
  await page.locator("#tail-toggle[data-wired]").waitFor();
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("not-refused@example.com", "curl/8.0"); // logged first: a tail without the filters shows it first
  await createSession("refused-since@example.com", "curl/8.0");
  await page.locator("#tail-rows td[data-label=Subject]", { hasText: /^refused-since@example\.com$/ }).first().waitFor();
  const shown = await page.locator("#tail-rows td[data-label=Subject]").allTextContents();
  await page.getByRole("button", { name: "Stop live tail" }).click();
  assert.deepEqual(shown, ["refused-since@example.com"], "the live tail of a refused page dropped the filters taken");
});

test("an event appears in the live tail", async () => {
  await page.getByRole("link", { name: "Events" }).click();
  // The page before is an events page too (/console/events?since=…): a
  // wait for /console\/events/ let the test start the old page's tail,
  // whose table the new one then replaced (under load, now and then).
  await page.waitForURL((u) => u.pathname === "/console/events" && u.search === "");
  await page.locator("#tail-toggle[data-wired]").waitFor();
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("tail@example.com", "curl/8.0");
  await page.locator("#tail-rows td", { hasText: "tail@example.com" }).first().waitFor();
  await audit("events");
  await shot("events");
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

// The tail's source is the page's filters as a query: html/template once
// escaped it as one query value, and the tail showed every event.
test("the live tail keeps the events page's filters", async () => {
  await page.goto(base + "/console/events?type=session.created&subject=" + encodeURIComponent("filtered@example.com"));
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("unfiltered@example.com", "curl/8.0"); // logged first: an unfiltered tail shows it first
  await createSession("filtered@example.com", "curl/8.0");
  await page.locator("#tail-rows td[data-label=Subject]", { hasText: /^filtered@example\.com$/ }).first().waitFor();
  const shown = await page.locator("#tail-rows td[data-label=Subject]").allTextContents();
  await page.getByRole("button", { name: "Stop live tail" }).click();
  assert.deepEqual(shown, ["filtered@example.com"], "the live tail ignored its filters");
});

// A boosted navigation replaces the page, the live tail's table with it:
// the tail ends with its page. Left running, it streamed into the table
// gone, and the new page's Start button stopped it instead of starting one.
test("the live tail ends with its page", async () => {
  await page.goto(base + "/console/events");
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await page.fill("#subject", "next-page@example.com");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/subject=next-page%40example\.com/);
  await page.locator("#tail-toggle[data-wired]").waitFor();
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByRole("button", { name: "Stop live tail" }).waitFor();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("next-page@example.com", "curl/8.0");
  await page.locator("#tail-rows td", { hasText: "next-page@example.com" }).first().waitFor();
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

// cursorAt is the live tail's cursor for the time ms (verifier/stream's
// CursorAt): "evt_" and base32hex of the unix µs and 8 zero bytes.
function cursorAt(ms) {
  const b = new Uint8Array(16);
  let us = BigInt(ms) * 1000n;
  for (let i = 7; i >= 0; i--) { b[i] = Number(us & 0xffn); us >>= 8n; }
  const digits = "0123456789abcdefghijklmnopqrstuv";
  let out = "", bits = 0, value = 0;
  for (const x of b) {
    value = ((value << 8) | x) & 0xffff;
    bits += 8;
    while (bits >= 5) { out += digits[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += digits[(value << (5 - bits)) & 31];
  return "evt_" + out;
}

// The live tail's first stream is answered by the test with lastID and
// closed at once; the browser's own reconnect (with Last-Event-ID, which
// Chromium adds out of Playwright's sight) then reaches the server.
async function tailDroppingAt(lastID, run) {
  let streams = 0;
  const tail = /\/console\/events\/tail/;
  await page.route(tail, async (route) => {
    if (streams++ === 0) {
      await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
        body: "retry: 50\nid: " + lastID + "\n\n" });
      return;
    }
    await route.continue();
  });
  try {
    await page.getByRole("button", { name: "Start live tail" }).click();
    await run();
  } finally {
    await page.getByRole("button", { name: "Stop live tail" }).click();
    await page.unroute(tail);
  }
  assert.ok(streams >= 2, "the live tail did not reconnect");
}

test("the live tail resumes where it dropped: an event logged meanwhile appears", async () => {
  await page.goto(base + "/console/events");
  const dropped = cursorAt(Date.now() - 1000);
  // Logged before this tail started: a fresh tail leaves it to the events
  // page; resumed from a second ago, the tail sends it.
  await createSession("resumed@example.com", "curl/8.0");
  await tailDroppingAt(dropped, async () => {
    await page.locator("#tail-rows td", { hasText: "resumed@example.com" }).first().waitFor();
  });
  assert.equal(await page.locator("#tail-rows tr.missed").count(), 0, "a resume said events were missed");
});

test("the live tail says events may have been missed after a long drop", async () => {
  await page.goto(base + "/console/events");
  await tailDroppingAt(cursorAt(Date.now() - 10 * 60 * 1000), async () => {
    const row = page.locator("#tail-rows tr.missed");
    await row.waitFor();
    assert.match(await row.textContent(), /^Events may have been missed between .* and .*: the live tail was disconnected for too long/);
    await audit("events with a missed notice");
    // Events still arrive after the notice.
    await createSession("after-notice@example.com", "curl/8.0");
    await page.locator("#tail-rows td", { hasText: "after-notice@example.com" }).first().waitFor();
  });
});

// An answer that is no stream (here a proxy's 502 while sessiond
// restarts) ends the browser's EventSource for good: the page said
// "Connection lost; retrying." and its button "Stop live tail". It says
// that the tail stopped, and the button starts it again.
test("the live tail says when it stopped for good, and starts again", async () => {
  await page.goto(base + "/console/events");
  await page.locator("#tail-toggle[data-wired]").waitFor();
  const tail = /\/console\/events\/tail/;
  await page.route(tail, (route) => route.fulfill({ status: 502, headers: { "content-type": "text/html" }, body: "<h1>502 Bad Gateway</h1>" }));
  try {
    await page.getByRole("button", { name: "Start live tail" }).click();
    await page.locator("#tail-status", { hasText: "The live tail stopped" }).waitFor();
    await page.getByRole("button", { name: "Start live tail" }).waitFor();
  } finally {
    await page.unroute(tail);
  }
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await createSession("restarted@example.com", "curl/8.0");
  await page.locator("#tail-rows td", { hasText: "restarted@example.com" }).first().waitFor();
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

// The node the live tail is connected to shuts down: each reconnect (every
// 3 s) is answered with the shutdown notice and ends until the node is
// gone, as the server answers then (TestConsole_EventTailLaterNotError;
// here with a short retry). The status said "Watching for new events." at
// each reconnect and the notice again after it, and aria-live announced
// both every 3 s. It says the notice once, and "Watching" once a server
// really serves the tail again.
test("the live tail says once that its server shuts down, until one serves it again", async () => {
  await page.goto(base + "/console/events");
  await page.locator("#tail-toggle[data-wired]").waitFor();
  // Every change of the status region, as a screen reader is told of it:
  // its text replaced, even by the same text.
  await page.evaluate(() => {
    const el = document.getElementById("tail-status");
    window.__tailSaid = [];
    new MutationObserver(() => window.__tailSaid.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
  });
  const tail = /\/console\/events\/tail/;
  const reconnects = 6;
  let streams = 0, enough;
  const answered = new Promise((res) => { enough = res; });
  await page.route(tail, async (route) => {
    if (++streams > reconnects) { enough(); await route.continue(); return; }
    await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
      body: "retry: 100\nevent: unavailable\ndata: " + JSON.stringify({ reason: "shutdown", since: new Date().toISOString() }) + "\n\n" });
  });
  const shutting = "This server is shutting down: the live tail reconnects.";
  const watching = "Watching for new events.";
  try {
    await page.getByRole("button", { name: "Start live tail" }).click();
    await answered; // the next reconnect reaches the server, which serves it
    await page.locator("#tail-status", { hasText: watching }).waitFor();
  } finally {
    await page.unroute(tail);
  }
  const said = await page.evaluate(() => window.__tailSaid);
  // The first stream's opening may say it watches before its notice comes.
  const from = said.indexOf(shutting);
  assert.ok(from >= 0, "the shutdown was never said: " + JSON.stringify(said));
  assert.deepEqual(said.slice(from), [shutting, watching], "the status changed other than once each way over " + reconnects + " reconnects");
  await createSession("after-shutdown@example.com", "curl/8.0");
  await page.locator("#tail-rows td", { hasText: "after-shutdown@example.com" }).first().waitFor();
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

// The store stops answering while the live tail runs (PostgreSQL behind a
// proxy the Go test cuts; the SQLite run has no store to stop): the tail
// says so, and when the store is back it goes on, without a reload.
const storeControl = process.env.SESSIOND_STORE_CONTROL;
async function store(op) {
  const r = await fetch(storeControl + "/" + op, { method: "POST" });
  assert.equal(r.status, 204, "store " + op);
}
test("the live tail says when the store is unavailable, and goes on when it is back", { skip: !storeControl && "no store to stop on this run" }, async () => {
  await page.goto(base + "/console/events");
  await page.locator("#tail-toggle[data-wired]").waitFor();
  await page.getByRole("button", { name: "Start live tail" }).click();
  await page.getByText("Watching for new events.").waitFor();
  await store("down");
  try {
    await page.locator("#tail-status", { hasText: "The store is unavailable" }).waitFor();
    await audit("events with the store unavailable");
  } finally {
    await store("up");
  }
  await page.locator("#tail-status", { hasText: "Watching for new events." }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Stop live tail" }).count(), 1, "the live tail stopped");
  // The pool's first calls after the outage may meet a connection it cut.
  subjects.add("after-outage@example.com");
  for (let i = 0; ; i++) {
    const r = await api("POST", "/v1/sessions", { subject: "after-outage@example.com", client: { ip: "203.0.113.9", user_agent: "curl/8.0" } });
    if (r.status === 201) break;
    assert.ok(i < 20, "the store did not come back: " + JSON.stringify(r.body));
    await new Promise((res) => setTimeout(res, 250));
  }
  await page.locator("#tail-rows td", { hasText: "after-outage@example.com" }).first().waitFor();
  await page.getByRole("button", { name: "Stop live tail" }).click();
});

// The console session ends (timed out; here its cookie is gone): the
// next click goes to the sign-in page, and signing in returns to the page
// asked for, filters and all.
test("signing in again returns to the page the operator was on", async () => {
  await page.goto(base + "/console/events?type=session.revoked");
  await page.context().clearCookies();
  await page.getByRole("link", { name: "Sessions" }).click(); // hx-boost: htmx follows HX-Redirect
  await page.waitForURL(/\/console\/signin\?next=%2Fconsole%2Fsessions$/);
  await page.goto(base + "/console/events?type=session.revoked"); // a reload, a bookmark
  await page.waitForURL(/\/console\/signin\?next=%2Fconsole%2Fevents%3Ftype%3Dsession\.revoked$/);
  await page.fill("#api_key", key);
  await page.click("form.signin button[type=submit]");
  await page.waitForURL(/\/console\/events\?type=session\.revoked$/);
  assert.equal(await page.inputValue("#type"), "session.revoked");
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

// The kill switch answers once every session is revoked (minutes for
// millions): until then the form says that it runs and its button is
// disabled; a connection lost before the answer, or a proxy's 504, says it
// may have run. The answer is held back (or dropped, or answered by the
// "proxy") in the browser, so the wait is certain.
test("the kill switch says it runs until it answers, and when no answer came", async () => {
  await createSession("eve@example.com", "a");
  await page.goto(base + "/console/incident");
  const fill = async () => {
    await page.fill("#subjects", "eve@example.com");
    await page.fill("#reason", "phished");
    await page.fill("#confirm", "REVOKE");
  };
  let release;
  const held = new Promise((r) => { release = r; });
  const hold = async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    await held;
    await route.continue();
  };
  await page.route("**/console/incident", hold);
  await fill();
  await page.click("button.danger");
  await page.locator("#incident-running", { hasText: "Running the kill switch" }).waitFor();
  assert.equal(await page.locator("button.danger").isDisabled(), true, "the button while the kill switch runs");
  release();
  await page.getByText("Revoked 1 session(s).").waitFor();
  assert.equal(await page.locator("#incident-running").textContent(), "", "the running notice after the answer");
  await page.unroute("**/console/incident", hold);

  const drop = (route) => (route.request().method() === "POST" ? route.abort("connectionreset") : route.continue());
  await page.route("**/console/incident", drop);
  await fill();
  await page.click("button.danger");
  await page.locator("#incident-running", { hasText: "it may have run" }).waitFor();
  assert.equal(await page.locator("button.danger").isDisabled(), false, "the button after the connection was lost");
  await page.unroute("**/console/incident", drop);

  // A proxy that stops waiting answers 504 with its own page: the form
  // stays, and says the kill switch may still be running.
  const proxy = (route) => (route.request().method() === "POST"
    ? route.fulfill({ status: 504, contentType: "text/html", body: "<html><body><h1>504 Gateway Time-out</h1></body></html>" })
    : route.continue());
  await page.route("**/console/incident", proxy);
  await fill();
  await page.click("button.danger");
  await page.locator("#incident-running", { hasText: "may still be running" }).waitFor();
  assert.equal(await page.locator("text=504 Gateway Time-out").count(), 0, "the proxy's page replaced the form");
  assert.equal(await page.locator("form.incident").count(), 1, "the form after the proxy's 504");
  await page.unroute("**/console/incident", proxy);
});

// The kill switch needs a sign-in within the last 15 minutes; a form sent
// later goes to the sign-in page and is lost. The form says until when it
// can be run and, once that has passed (the page's clock run forward), that
// running it asks for a sign-in first, with a link to sign in again in a
// new tab: the form keeps what was typed and runs once signed in there.
test("the kill switch form warns before the sign-in is too old to run it", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  try {
    const p = await ctx.newPage();
    p.on("pageerror", (e) => pageErrors.push(e.message + " at " + p.url()));
    p.on("console", (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text() + " at " + p.url()); });
    await p.clock.install();
    await p.goto(base + "/console/signin");
    await p.fill("#api_key", key);
    await p.click("form.signin button[type=submit]");
    await p.waitForURL(/\/console\/overview$/);
    await p.getByRole("link", { name: "Incident" }).click(); // hx-boost: the swapped page is watched too
    await p.waitForURL(/\/console\/incident$/);
    const soon = p.locator("#reauth-soon"), due = p.locator("#reauth-due");
    await soon.waitFor();
    assert.match(await soon.textContent(), /^Run it by \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, 15 minutes after you signed in/);
    assert.equal(await due.isVisible(), false, "the sign-in is fresh but the form says it is too old");
    await p.fill("#subjects", "nobody@example.com\nnobody-else@example.com");
    await p.fill("#reason", "drill");
    await p.clock.fastForward("14:00");
    assert.equal(await due.isVisible(), false, "14 minutes after sign-in the form says it is too old");
    await p.clock.fastForward("01:02");
    await due.waitFor({ state: "visible" });
    assert.equal(await soon.isVisible(), false);
    assert.match(await due.textContent(), /You signed in more than 15 minutes ago: running the kill switch now first sends you to sign in again/);
    await audit("incident (sign-in due)", p);
    // Signing in again in a new tab keeps this form, which then runs.
    const [tab] = await Promise.all([ctx.waitForEvent("page"), due.getByRole("link", { name: "Sign in again in a new tab" }).click()]);
    await tab.waitForURL(/\/console\/signin\?reauth=1$/);
    await tab.fill("#api_key", key);
    await tab.click("form.signin button[type=submit]");
    await tab.waitForURL(/\/console\/overview$/);
    await tab.close();
    assert.equal(await p.inputValue("#subjects"), "nobody@example.com\nnobody-else@example.com", "the form lost what was typed");
    await p.fill("#confirm", "REVOKE");
    await p.click("button.danger");
    await p.getByText("Revoked 0 session(s).").waitFor();
  } finally {
    await ctx.close();
  }
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
  reportingKey = { secret, id: (await page.textContent("#created-h")).replace("New API key ", "").trim() };
  const r = await fetch(base + "/v1/events", { headers: { authorization: "Bearer " + secret } });
  assert.equal(r.status, 200, "the new events:read key reads events");
  await audit("keys");
  await shot("keys");
  // Shown under /console/keys, not the form's action (which answers GET
  // with 405): a reload shows the keys page, and not the secret again.
  await page.waitForURL(/\/console\/keys$/);
  const reloaded = await page.reload();
  assert.equal(reloaded.status(), 200, "reloading after creating a key");
  assert.equal(await page.locator("#created").count(), 0, "a reload showed the new key again");
});

let reportingKey; // the key the test above created

// Revoking an API key asks for REVOKE typed on a page naming the key: a
// word typed wrong revokes nothing, and the key keeps working.
test("keys: revoking an API key asks for REVOKE", async () => {
  const reads = async () => (await fetch(base + "/v1/events", { headers: { authorization: "Bearer " + reportingKey.secret } })).status;
  await page.goto(base + "/console/keys");
  await page.getByRole("button", { name: "Revoke API key " + reportingKey.id }).click();
  await page.getByRole("heading", { name: `Revoke API key ${reportingKey.id}?` }).waitFor();
  assert.ok((await page.textContent("section.confirm")).includes("Name: reporting. Scopes: events:read."));
  assert.equal(new URL(page.url()).pathname, "/console/keys");
  await audit("API key revoke confirmation");
  await page.fill("#confirm", "revoke");
  await page.getByRole("button", { name: "Revoke API key " + reportingKey.id }).click();
  await page.getByText("Type REVOKE to confirm: the key was not revoked.").waitFor();
  assert.equal(await page.getAttribute("#confirm", "aria-invalid"), "true");
  await audit("API key revoke refused");
  assert.equal(await reads(), 200, "a refused confirmation revoked the key");
  await page.fill("#confirm", "REVOKE");
  await page.getByRole("button", { name: "Revoke API key " + reportingKey.id }).click();
  await page.getByText(`API key ${reportingKey.id} revoked.`).waitFor();
  await page.waitForURL(/\/console\/keys$/);
  assert.equal(await reads(), 401, "the revoked key still reads events");
});

// Polls fn until it returns a truthy value (at most ~20 s).
async function until(what, fn) {
  for (let i = 0; i < 100; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("timed out waiting for " + what);
}

// Every event of a type since a time, through the API, page by page.
async function eventsSince(type, since) {
  const out = [];
  let cursor = "";
  for (;;) {
    const q = new URLSearchParams({ type, since: since.toISOString(), limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    const r = await api("GET", "/v1/events?" + q);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.events);
    if (!r.body.next_cursor) return out;
    cursor = r.body.next_cursor;
  }
}

async function deliveries(state) {
  const r = await api("GET", "/v1/webhooks/deliveries?limit=1000&state=" + state);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.deliveries;
}

// Nothing a client or receiver sent ran as script or reached the page raw.
async function assertInert(name) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, name + ": hostile text ran script");
  const html = await page.content();
  assert.ok(!html.includes("<img src=x"), name + ": hostile markup is in the page unescaped");
  assert.ok(!html.includes("\u001b"), name + ": a terminal escape reached the page");
}

test("webhooks: a dead delivery is retried once its receiver is back", async () => {
  const s = await createSession("hook@example.com", hostileUA);
  const del = await api("DELETE", "/v1/sessions/" + encodeURIComponent(s.session.id));
  assert.ok(del.status < 300, "revoke: " + del.status);
  const ev = await until("the revocation event", async () => (await eventsSince("session.revoked", new Date(Date.now() - 60_000)))
    .find((e) => e.subject === "hook@example.com"));
  // The receiver is down: one attempt (max_attempts 1) and it is dead.
  const dead = await until("the dead delivery", async () => (await deliveries("dead")).find((d) => d.event_id === ev.id));
  assert.match(dead.last_error, /503/);
  const r = await fetch(receiver + "/up", { method: "POST" });
  assert.equal(r.status, 204);

  await page.getByRole("link", { name: "Webhooks" }).click();
  await page.waitForURL(/\/console\/webhooks$/);
  await page.locator(`#dead-rows tr[data-id="${dead.id}"]`).waitFor();
  const row = await page.textContent(`#dead-rows tr[data-id="${dead.id}"]`);
  assert.ok(row.includes("503 Service Unavailable"), "the row shows the status: " + row);
  assert.ok(!row.includes("down") && !row.includes("onerror"), "the receiver's own reason phrase is not kept: " + row);
  await assertInert("webhooks");
  await audit("webhooks");
  await page.getByRole("button", { name: "Retry delivery " + dead.id }).click();
  await page.getByText(`Delivery ${dead.id} is queued`).waitFor();
  // The dispatcher picks it up within a second or so.
  await until("the retried delivery to be delivered", async () => (await deliveries("delivered")).some((d) => d.id === dead.id));
  await until("the page to show it delivered", async () => {
    await page.goto(base + "/console/webhooks");
    const row = page.locator(`#recent-rows tr[data-id="${dead.id}"]`);
    return (await row.count()) > 0 && (await row.textContent()).includes("delivered");
  });
  assert.equal(await page.locator(`#dead-rows tr[data-id="${dead.id}"]`).count(), 0, "still listed as dead");
  await assertInert("webhooks after retry");
  await shot("webhooks");
});

test("overview: charts drawn, figures as the API has them", async () => {
  // Let the outbox settle, so the backlog cannot move while we compare.
  await until("an empty webhook backlog", async () => (await deliveries("pending")).length === 0);
  await page.getByRole("link", { name: "Overview" }).click();
  await page.waitForURL(/\/console\/overview$/);
  await page.locator("#chart-hour canvas").waitFor();
  await page.locator("#chart-day canvas").waitFor();
  for (const id of ["#chart-hour", "#chart-day"]) {
    const box = await page.locator(id + " canvas").first().boundingBox();
    assert.ok(box && box.width > 150 && box.height > 100, id + ": the chart has no size");
  }
  const now = Date.now();
  const table = await page.$$eval("#totals tbody tr", (rows) => Object.fromEntries(rows.map((r) =>
    [r.getAttribute("data-series"), [r.querySelector(".hour").textContent, r.querySelector(".day").textContent]])));
  const types = {
    Logins: [["session.created"]],
    Refreshes: [["session.refreshed"]],
    Revocations: [["session.revoked"], ["session.bulk_revoked", (e) => (e.subject ? 0 : e.details?.count ?? 0)]],
    "Reuse detections": [["session.refresh_token_reused"]],
    Anomalies: [["session.anomaly"]],
    "Unknown tokens": [["session.unknown_id"]],
  };
  for (const [name, sources] of Object.entries(types)) {
    const want = [0, 0];
    for (const [type, weigh] of sources) {
      const day = await eventsSince(type, new Date(now - 24 * 3600_000));
      for (const e of day) {
        const n = weigh ? weigh(e) : 1;
        want[1] += n;
        if (Date.parse(e.time) >= now - 3600_000) want[0] += n;
      }
    }
    assert.deepEqual(table[name], [String(want[0]), String(want[1])], name + ": overview (hour, day) differs from the API");
  }
  assert.ok(Number(table.Logins[0]) >= 5 && Number(table.Revocations[0]) >= 3, "the scenarios' logins and revocations are counted");
  // The chart data is the table's.
  const charts = JSON.parse(await page.getAttribute("#overview-data", "data-charts"));
  assert.equal(String(charts.hour.series[0].counts.reduce((a, b) => a + b, 0)), table.Logins[0]);
  assert.equal(String(charts.day.series[2].total), table.Revocations[1]);
  // Live sessions: every session of this server was made by these tests,
  // so the API's lists of their subjects hold them all.
  let live = 0;
  for (const subject of subjects) {
    const r = await api("GET", "/v1/subjects/" + encodeURIComponent(subject) + "/sessions");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    live += r.body.sessions.length;
  }
  assert.ok(live >= 2, "the scenarios leave live sessions");
  assert.equal(await page.textContent("#live"), String(live), "live sessions");
  // Backlog and dead: one count shared with /metrics and reused for 30 s
  // or more (the webhooks page counted them a moment ago). Counted for
  // this view, they are what the outbox API lists; counted earlier (the
  // page says when), they are the count /metrics serves.
  await until("the overview's outbox counts to agree with the API or /metrics", async () => {
    await page.goto(base + "/console/overview");
    const shown = [await page.textContent("#backlog"), (await page.textContent("#dead")).trim()];
    if (await page.locator("#outbox-age").count() === 0) {
      assert.deepEqual(shown, [String((await deliveries("pending")).length), String((await deliveries("dead")).length)], "webhook backlog and dead deliveries");
      return true;
    }
    assert.match(await page.textContent("#outbox-age"), /^Webhook backlog and dead deliveries: counted \S+ earlier, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    const m = await (await fetch(base + "/metrics")).text();
    const metric = (re) => (m.match(re) || [])[1];
    if (Number(metric(/^sessiond_webhook_outbox_depth_age_seconds (\S+)$/m)) === 0) return false; // counted anew since: look again
    assert.deepEqual(shown, [metric(/^sessiond_webhook_outbox_depth\{state="pending"\} (\S+)$/m), metric(/^sessiond_webhook_outbox_depth\{state="dead"\} (\S+)$/m)],
      "the overview's outbox counts differ from /metrics' shared count");
    return true;
  });
  await assertInert("overview");
  await audit("overview");
  await shot("overview");
  // Keyboard: the dead count links to the webhooks page.
  await page.locator("#dead a").focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/console\/webhooks$/);
});

// (After the webhooks test: each revocation is a webhook delivery, which
// fails while the receiver is down and lengthens its endpoint's cooling
// down.) Revoking a subject's sessions asks first, saying how many it ends (the
// filters do not narrow it); Cancel goes back, nothing revoked; the
// confirmation's button revokes and comes back to the filtered page.
test("sessions: revoking a subject's sessions asks first, with the count", async () => {
  const live = async () => (await api("GET", "/v1/subjects/" + encodeURIComponent("ip@example.com") + "/sessions")).body.sessions.length;
  assert.equal(await live(), 2);
  const filtered = "/console/sessions?subject=ip%40example.com&ip=198.51.100.0%2F24&device=android";
  await page.goto(base + filtered);
  await page.getByRole("button", { name: /^Revoke all of this subject's sessions \(2,/ }).click();
  await page.getByRole("heading", { name: "Revoke every session of ip@example.com?" }).waitFor();
  assert.ok((await page.textContent("section.confirm")).includes("This ends all 2 live session(s) of ip@example.com."));
  assert.equal(new URL(page.url()).pathname, "/console/sessions", "the confirmation took the sessions page's URL (a reload would answer 405)");
  assert.equal(await live(), 2, "asking revoked");
  await audit("revoke sessions confirmation");
  await page.getByRole("link", { name: "Cancel" }).click();
  await page.getByText("1 of the 2 session(s) of").waitFor();
  assert.equal(await page.inputValue("#device"), "android", "Cancel lost the filters");
  assert.equal(await live(), 2, "Cancel revoked");
  // Revoke others, from the row of the session kept.
  await page.locator('form[action="/console/sessions/revoke-others"] button').click();
  await page.getByRole("heading", { name: "Revoke every other session of ip@example.com?" }).waitFor();
  assert.match(await page.textContent("section.confirm"), /This ends 1 live session\(s\) of ip@example\.com, every one but session \S+ \(Firefox on Android\)\./);
  await page.getByRole("button", { name: "Revoke 1 other session(s)" }).click();
  await page.getByText("Revoked 1 session(s).").waitFor();
  await page.waitForURL((u) => u.pathname === "/console/sessions" && u.searchParams.get("device") === "android" && !u.searchParams.has("revoked"));
  assert.equal(await live(), 1);
});

// Without JavaScript the confirmation is a page of its own, and its form
// works the same.
test("sessions: the confirmation works without JavaScript", async () => {
  await createSession("nojs@example.com", "curl/8.0");
  await createSession("nojs@example.com", "curl/8.1");
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 }, javaScriptEnabled: false });
  try {
    const p = await ctx.newPage();
    await p.goto(base + "/console/signin?next=%2Fconsole%2Fsessions%3Fsubject%3Dnojs%2540example.com");
    await p.fill("#api_key", key);
    await p.click("form.signin button[type=submit]");
    await p.waitForURL(/\/console\/sessions\?subject=nojs%40example\.com$/);
    await p.getByRole("button", { name: /^Revoke all of this subject's sessions \(2\)/ }).click();
    await p.waitForURL(/\/console\/sessions\/revoke-all$/);
    await p.getByText("This ends all 2 live session(s) of nojs@example.com.").waitFor();
    const live = async () => (await api("GET", "/v1/subjects/nojs%40example.com/sessions")).body.sessions.length;
    assert.equal(await live(), 2, "asking revoked");
    await p.getByRole("button", { name: "Revoke 2 session(s)" }).click();
    await p.getByText("Revoked 2 session(s).").waitFor();
    assert.equal(await live(), 0);
  } finally {
    await ctx.close();
  }
});

test("readable on a phone and in the dark theme", { skip: !layoutRun && "layout is checked on the SQLite run" }, async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto(base + "/console/sessions?subject=alice%40example.com");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "the page scrolls sideways at 360px");
  await shot("sessions-phone");
  await page.emulateMedia({ colorScheme: "dark" });
  await audit("sessions (dark)");
  await shot("sessions-phone-dark");
  for (const [path, name] of [["/console/overview", "overview"], ["/console/webhooks", "webhooks"],
    ["/console/events?since=2026-12-01T00:00Z", "events"], ["/console/sessions?subject=ip%40example.com&ip=198.51.100.0%2F24", "sessions-filtered"],
    ["/console/incident", "incident"]]) {
    await page.goto(base + path);
    if (name === "overview") await page.locator("#chart-day canvas").waitFor();
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(wide, false, name + " scrolls sideways at 360px");
    await audit(name + " (phone, dark)");
    if (name === "overview" || name === "webhooks") await shot(name + "-phone-dark"); // the ones docs/console.md shows
  }
  await page.emulateMedia({ colorScheme: "light" });
});

test("sign out", async () => {
  await page.setViewportSize({ width: 1200, height: 800 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/console\/signin$/);
  await page.goto(base + "/console/sessions");
  assert.match(page.url(), /\/console\/signin\?next=%2Fconsole%2Fsessions$/);
  assert.deepEqual(cspViolations, [], "CSP violations");
  assert.deepEqual(pageErrors, [], "script errors in the page");
});
