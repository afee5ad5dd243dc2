// A Node.js resource server for the end-to-end tests: it verifies tokens
// with the @sessiond/verifier package (built to VERIFIER_MODULE) against
// SESSIOND_URL and answers POST /check (the token as the body) with 200 ok,
// 401 <code> or 503 stale. It prints "listening <port>" when ready.
import http from "node:http";

const { createVerifier, VerifyError } = await import(process.env.VERIFIER_MODULE);
const v = await createVerifier({
  url: process.env.SESSIOND_URL,
  apiKey: process.env.SESSIOND_API_KEY,
  issuer: process.env.SESSIOND_ISSUER,
  audience: process.env.SESSIOND_AUDIENCE,
  maxStalenessMs: Number(process.env.MAX_STALENESS_MS || 30000),
  logger: { warn: (m, a) => console.error("WARN", m, JSON.stringify(a ?? {})), error: (m, a) => console.error("ERROR", m, JSON.stringify(a ?? {})) },
});

const srv = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (c) => { body += c; });
  req.on("end", async () => {
    if (req.url === "/status") {
      res.end(JSON.stringify(v.status()));
      return;
    }
    try {
      await v.verify(body);
      res.end("ok");
    } catch (e) {
      res.statusCode = e instanceof VerifyError && e.code === "stale" ? 503 : 401;
      res.end(e instanceof VerifyError ? e.code : String(e));
    }
  });
});
srv.keepAliveTimeout = 60_000;
srv.listen(0, "127.0.0.1", () => console.log(`listening ${srv.address().port}`));
process.on("SIGTERM", async () => { srv.close(); await v.close(); process.exit(0); });
