// The fake sessiond of timeouts.test.mjs, run in a worker thread: on its
// own event loop, the server keeps its pace while the verifier under test
// is busy or starved of CPU (in the test's thread, a loaded machine held
// both, and the server's bytes were late by as long as the verifier's
// wait). It imports node:http alone (helpers.mjs loads the verifier and
// jose), so that starting it costs a loaded machine little. Not a test:
// `node --test test/` runs it too (Node 20 runs every file of a directory
// it is given), outside a worker, where it does nothing.
import http from "node:http";
import { once } from "node:events";
import { parentPort, workerData } from "node:worker_threads";

const { mode, timeout, cursor, doc, trickled } = workerData ?? {};
// Unreferenced: once its server is closed, the worker ends by itself
// (worker.terminate() while it ran crashed Node 20 now and then: "FATAL
// ERROR: v8::ToLocalChecked Empty MaybeLocal").
const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());
// waitGone resolves when the client hangs up, or after ten timeouts.
const waitGone = (res) => Promise.race([new Promise((r) => res.on("close", r)), sleep(10 * timeout)]);

const serves = {
  whole: (req, res) => void res.writeHead(200, { "Content-Type": "application/json" }).end(doc),
  trickled: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    // 2 KiB each twentieth of the timeout: ten times the 4 KiB each
    // timeout asked for, so that a verifier bounding the whole transfer
    // fails, not a loaded machine's late wake-up (at twice the rate, the
    // Go verifier's test did).
    for (let i = 0; i < trickled.length && !res.destroyed; i += 2048) {
      res.write(trickled.slice(i, i + 2048));
      await sleep(timeout / 20);
    }
    res.end();
  },
  trickledForever: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    // A byte each quarter timeout, never ending: bytes keep coming, far
    // too few of them.
    res.write('{"revocations":[');
    for (let i = 0; i < 200 && !res.destroyed; i++) {
      await sleep(timeout / 4);
      res.write(" ");
    }
    res.end();
  },
  stalled: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc.slice(0, doc.length / 2));
    await waitGone(res);
    res.end();
  },
  stalledAtEnd: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc);
    await waitGone(res);
    res.end();
  },
  cutAtEnd: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc);
    await sleep(timeout / 10);
    res.socket.destroy();
  },
  cutInMiddle: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc.slice(0, doc.length / 2));
    await sleep(timeout / 10);
    res.socket.destroy();
  },
  noBody: async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    await waitGone(res);
    res.end();
  },
  noHeaders: async (req, res) => {
    await waitGone(res);
    res.end();
  },
};

if (parentPort) await serve();

// serve starts the server and posts its URL; a message from the test
// closes it. As helpers.mjs's fakeSnapshot: an empty JWKS, a stream that
// only sends a heartbeat, and the snapshot as mode says.
async function serve() {
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"keys":[]}');
      case "/v1/revocations/snapshot":
        return void serves[mode](req, res);
      case "/v1/revocations/stream":
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        return void res.write(`: heartbeat\nid: ${cursor}\n\n`);
      default:
        res.writeHead(404).end();
    }
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  parentPort.once("message", () => {
    srv.closeAllConnections();
    srv.close();
  });
  parentPort.postMessage(`http://127.0.0.1:${srv.address().port}`);
}
