#!/usr/bin/env python3
"""A backend behind the sessiond gateway, on Python's standard library only.

It never sees a token. The reverse proxy (nginx.conf or Caddyfile here) asks
sessiond about every request to a protected path and hands this app the
trusted identity headers (X-Sessiond-Subject, ...), after stripping any the
client sent. At login the app checks the password, asks sessiond for a
single-use login code and sends the browser to redeem it. See
docs/gateway.md.

    SESSIOND_URL=http://127.0.0.1:8420 SESSIOND_API_KEY=sdak_... \\
    APP_USERS='alice:wonderland,bob:builder' python3 app.py --listen 127.0.0.1:8000
"""

import argparse
import hashlib
import hmac
import html
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSIOND_URL = os.environ.get("SESSIOND_URL", "http://127.0.0.1:8420").rstrip("/")
API_KEY = os.environ.get("SESSIOND_API_KEY", "")
PREFIX = os.environ.get("SESSIOND_PREFIX", "/sessiond")
MAX_FORM = 8192


def load_users(spec):
    """user:password pairs; only salted PBKDF2 hashes are kept."""
    users = {}
    for pair in filter(None, spec.split(",")):
        name, _, password = pair.partition(":")
        salt = os.urandom(16)
        users[name] = (salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000))
    return users


USERS = load_users(os.environ.get("APP_USERS", "alice:wonderland,bob:builder"))
# Compared against when the user is unknown, so timing does not tell.
_DUMMY = (os.urandom(16), os.urandom(32))


def check_password(name, password):
    salt, want = USERS.get(name, _DUMMY)
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000)
    return hmac.compare_digest(got, want) and name in USERS


def sessiond(path, body):
    """POSTs JSON to sessiond's API with the API key; returns (status, body)."""
    req = urllib.request.Request(
        SESSIOND_URL + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + API_KEY},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>
"""


class App(BaseHTTPRequestHandler):
    server_version = "gateway-example"

    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write("app: %s %s\n" % (self.command, fmt % args))

    def send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def identity(self, name):
        """An identity header as sessiond wrote it: UTF-8. http.server (like
        WSGI, PEP 3333) reads header values as ISO-8859-1, so the subject
        "zoë" would read as "zoÃ«", another name. A value that is not UTF-8
        (none the proxy passes on) counts as absent."""
        try:
            return self.headers.get(name, "").encode("latin-1").decode("utf-8")
        except UnicodeError:
            return ""

    def page(self, title, body, status=200):
        self.send(status, PAGE.format(title=html.escape(title), body=body))

    # ---- routes

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            self.page("Home", '<p><a href="/app">Your page</a> (needs a session)</p>')
        elif url.path == "/login":
            self.login_form(urllib.parse.parse_qs(url.query).get("return_to", ["/app"])[0])
        elif url.path == "/app":
            self.protected_page()
        elif url.path == "/api/me":
            self.me()
        else:
            self.page("Not found", "", 404)

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path == "/login":
            self.login()
        else:
            self.page("Not found", "", 404)

    def login_form(self, return_to, error=""):
        err = '<p role="alert">%s</p>' % html.escape(error) if error else ""
        self.page(
            "Sign in",
            err
            + '<form method="post" action="/login">'
            '<input type="hidden" name="return_to" value="%s">'
            '<label>User <input name="username" autocomplete="username"></label> '
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label> '
            '<button type="submit">Sign in</button></form>' % html.escape(return_to, quote=True),
            401 if error else 200,
        )

    def cross_origin(self):
        """Whether this request comes from another origin's page, as Go's
        CrossOriginProtection (sessiond's own routes) decides: Sec-Fetch-Site
        when the browser sends it; from a browser too old for it (Safari
        before 16.4), which still sends Origin on a form post, Origin
        against Host ("null", a sandboxed or opaque origin, never matches).
        Neither header: not a browser's cross-site form post."""
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site not in ("same-origin", "none")
        origin = self.headers.get("Origin")
        if origin is None:
            return False
        try:
            return urllib.parse.urlsplit(origin).netloc != self.headers.get("Host", "")
        except ValueError:  # not a URL ("http://[x"): not this origin
            return True

    def login(self):
        # Login CSRF: only this origin's own form may sign a browser in. The
        # code redemption that follows cannot tell: a browser without
        # Sec-Fetch-Site sends none on the redirect either.
        if self.cross_origin():
            return self.page("Forbidden", "", 403)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FORM:
            return self.page("Too large", "", 413)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        name = form.get("username", [""])[0]
        return_to = form.get("return_to", ["/app"])[0] or "/app"
        if not check_password(name, form.get("password", [""])[0]):
            return self.login_form(return_to, "Wrong user name or password.")
        client = {"ip": self.headers.get("X-Real-IP", ""), "user_agent": self.headers.get("User-Agent", "")[:512]}
        body = {"subject": name, "login_code": True, "return_to": return_to, "client": client}
        status, out = sessiond("/v1/sessions", body)
        if status == 400 and "return_to" in out.get("detail", ""):
            # Not a same-origin path: sessiond refuses it, so go home.
            body["return_to"] = "/app"
            status, out = sessiond("/v1/sessions", body)
        if status != 201:
            return self.page("Sign-in failed", "<p>Try again later.</p>", 503)
        # The browser redeems the code at sessiond, which sets the cookies.
        self.send(303, "", headers=[("Location", out["login_url"])])

    def protected_page(self):
        # The proxy let the request through only with a valid session and
        # set this header itself.
        subject = self.identity("X-Sessiond-Subject")
        step_up = self.headers.get("X-Sessiond-Step-Up") == "true"
        self.page(
            "Your page",
            '<p>Signed in as <strong id="subject">%s</strong>.</p>' % html.escape(subject)
            + ('<p id="step-up">Please confirm your password.</p>' if step_up else "")
            + '<p>Session expires at <span id="expires">%s</span>.</p>'
            % html.escape(self.headers.get("X-Sessiond-Expires-At", ""))
            + '<form method="post" action="%s/logout"><input type="hidden" name="return_to" value="/">'
            '<button type="submit" id="logout">Sign out</button></form>' % PREFIX
            + '<script type="module">import { createSession } from "/sdk/sessiond.js";'
            'window.sessiond = createSession({ basePath: "%s", loginPage: "/login" });</script>' % PREFIX,
        )

    def me(self):
        body = {
            "subject": self.identity("X-Sessiond-Subject"),
            "session_id": self.headers.get("X-Sessiond-Session-Id", ""),
        }
        self.send(200, json.dumps(body), "application/json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:8000")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = ThreadingHTTPServer((host, int(port)), App)
    print("app listening on http://%s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
