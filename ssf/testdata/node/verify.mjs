// Verifies Security Event Tokens with npm jose, an implementation written
// independently of sessiond's, against a published JWKS, and checks their
// claims against RFC 8417 and the CAEP / RISC / SSF event schemas.
//
// Input (the file named by the first argument):
//   {"jwks": {...}, "issuer": "...", "audience": "...", "sets": ["..."]}
// Output (stdout): one result per SET, in order:
//   {"ok": true, "header": {...}, "payload": {...}} or
//   {"ok": false, "error": "..."}
import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";

const CAEP_SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const RISC_SESSIONS_REVOKED = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
const SSF_VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const ENTITIES = ["admin", "user", "policy", "system"];

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const keys = createLocalJWKSet(input.jwks);

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v) => typeof v === "string" && v.length > 0;

function issSub(id, issuer) {
  if (!isObject(id) || id.format !== "iss_sub" || id.iss !== issuer || !isString(id.sub)) {
    throw new Error(`not an iss_sub identifier of ${issuer}: ${JSON.stringify(id)}`);
  }
}

// checkClaims throws on the first claim that breaks RFC 8417 or the event's schema.
function checkClaims(p, issuer) {
  if (!isString(p.jti)) throw new Error("jti missing (RFC 8417 §2.2)");
  if (!Number.isInteger(p.iat)) throw new Error("iat is not a NumericDate");
  if ("exp" in p) throw new Error("a SET carries no exp");
  if ("txn" in p && !isString(p.txn)) throw new Error("txn is not a string");
  if (!isObject(p.events)) throw new Error("events is not an object");
  const types = Object.keys(p.events);
  if (types.length !== 1) throw new Error(`events holds ${types.length} events; want 1`);
  const [type] = types;
  const ev = p.events[type];
  if (!isObject(ev)) throw new Error("event payload is not an object");
  switch (type) {
    case CAEP_SESSION_REVOKED: {
      if (!Number.isInteger(ev.event_timestamp)) throw new Error("event_timestamp is not a NumericDate");
      if (!ENTITIES.includes(ev.initiating_entity)) throw new Error(`initiating_entity ${ev.initiating_entity}`);
      if ("reason_admin" in ev && (!isObject(ev.reason_admin) || !Object.values(ev.reason_admin).every(isString))) {
        throw new Error("reason_admin is not a map of language tags to strings");
      }
      const s = p.sub_id;
      if (!isObject(s) || s.format !== "complex") throw new Error("sub_id is not complex");
      issSub(s.user, issuer);
      if (!isObject(s.session) || s.session.format !== "opaque" || !isString(s.session.id)) {
        throw new Error("sub_id.session is not an opaque identifier");
      }
      break;
    }
    case RISC_SESSIONS_REVOKED:
      issSub(p.sub_id, issuer);
      break;
    case SSF_VERIFICATION:
      if (!isObject(p.sub_id) || p.sub_id.format !== "opaque" || !isString(p.sub_id.id)) {
        throw new Error("verification sub_id is not the stream's opaque identifier");
      }
      if ("state" in ev && typeof ev.state !== "string") throw new Error("state is not a string");
      break;
    default:
      throw new Error(`unexpected event type ${type}`);
  }
}

const results = [];
for (const set of input.sets) {
  try {
    const { payload, protectedHeader } = await jwtVerify(set, keys, {
      issuer: input.issuer,
      audience: input.audience,
      typ: "secevent+jwt",
      algorithms: ["EdDSA", "ES256"],
    });
    if (!isString(protectedHeader.kid)) throw new Error("kid missing");
    checkClaims(payload, input.issuer);
    results.push({ ok: true, header: protectedHeader, payload });
  } catch (e) {
    results.push({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(results));
