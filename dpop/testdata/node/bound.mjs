// DPoP proofs by the npm "dpop" package for a key that outlives one run, for
// verifier/dpop_node_test.go: the token must be bound to the key before the
// proofs that hash it can be made.
// Usage: node bound.mjs <keyfile>               makes a key, prints {"jkt"}
//        node bound.mjs <keyfile> <htu> <token>  prints proofs with that key
import { readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const [keyfile, htu, token] = process.argv.slice(2);
const alg = { name: 'ECDSA', namedCurve: 'P-256' };

if (!htu) {
  const kp = await generateKeyPair('ES256', { extractable: true });
  const jwk = await crypto.subtle.exportKey('jwk', kp.privateKey);
  writeFileSync(keyfile, JSON.stringify(jwk), { mode: 0o600 });
  process.stdout.write(JSON.stringify({ jkt: await calculateThumbprint(kp.publicKey) }));
} else {
  const jwk = JSON.parse(readFileSync(keyfile, 'utf8'));
  const { d, ...pub } = jwk;
  const kp = {
    privateKey: await crypto.subtle.importKey('jwk', jwk, alg, false, ['sign']),
    publicKey: await crypto.subtle.importKey('jwk', { ...pub, key_ops: ['verify'] }, alg, true, ['verify']),
  };
  const other = await generateKeyPair('ES256');
  process.stdout.write(JSON.stringify({
    ok: await generateProof(kp, htu, 'GET', undefined, token),
    wrong_method: await generateProof(kp, htu, 'POST', undefined, token),
    wrong_url: await generateProof(kp, htu + '/other', 'GET', undefined, token),
    wrong_ath: await generateProof(kp, htu, 'GET', undefined, token + 'x'),
    no_ath: await generateProof(kp, htu, 'GET'),
    other_key: await generateProof(other, htu, 'GET', undefined, token),
  }));
}
