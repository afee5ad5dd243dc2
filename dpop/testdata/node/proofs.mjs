// Writes DPoP proofs made by the npm "dpop" package (an implementation
// independent of ours) as one JSON object on stdout, for dpop/node_test.go.
// Usage: node proofs.mjs <htu> <server-nonce> <access-token>
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const [htu, nonce, token] = process.argv.slice(2);
const es = await generateKeyPair('ES256');
const rs = await generateKeyPair('RS256');
const other = await generateKeyPair('ES256');

const out = {
  jkt: await calculateThumbprint(es.publicKey),
  rs_jkt: await calculateThumbprint(rs.publicKey),
  ok: await generateProof(es, htu, 'GET'),
  ok_rs256: await generateProof(rs, htu, 'GET'),
  ok_query: await generateProof(es, htu + '?page=2#top', 'GET'),
  ok_ath: await generateProof(es, htu, 'GET', undefined, token),
  ok_nonce: await generateProof(es, htu, 'GET', nonce),
  wrong_method: await generateProof(es, htu, 'POST'),
  wrong_url: await generateProof(es, htu + '/other', 'GET'),
  wrong_host: await generateProof(es, htu.replace('://', '://evil.'), 'GET'),
  wrong_ath: await generateProof(es, htu, 'GET', undefined, token + 'x'),
  other_key: await generateProof(other, htu, 'GET', undefined, token),
  bad_nonce: await generateProof(es, htu, 'GET', nonce + 'x'),
};
process.stdout.write(JSON.stringify(out));
