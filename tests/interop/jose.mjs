// Speaks for Node's `jose` in tests/interop.rs: one JSON request on stdin, one JSON
// answer on stdout. Secrets come in on stdin, never on the command line.
//   {"op":"sign","claims":{…},"kid":"key_…","secret":"sk_…"} -> {"token":"…"}
//   {"op":"verify","token":"…","secret":"sk_…"}              -> {"header":{…},"payload":{…}}
// Application tokens (EdDSA), signed with a fresh Ed25519 key:
//   {"op":"sign_application","claims":{…},"kid":"app_…"}   -> {"token":"…","jwk":{…}}
//   {"op":"verify_application","token":"…","jwk":{…}}      -> {"header":{…},"payload":{…}}
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const key = new TextEncoder().encode(request.secret ?? '');

let answer;
if (request.op === 'sign_application') {
  // What Source's demo plugin shows: an Ed25519 pair, header alg, crv and kid.
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const token = await new SignJWT(request.claims)
    .setProtectedHeader({ alg: 'EdDSA', crv: 'Ed25519', kid: request.kid })
    .sign(privateKey);
  answer = { token, jwk: { ...(await exportJWK(publicKey)), alg: 'EdDSA' } };
} else if (request.op === 'verify_application') {
  const publicKey = await importJWK(request.jwk, 'EdDSA');
  const { payload, protectedHeader } = await jwtVerify(request.token, publicKey, {
    algorithms: ['EdDSA'],
    issuer: 'sourcehealth',
  });
  answer = { header: protectedHeader, payload };
} else if (request.op === 'sign') {
  // The recipe of Source's official Node client (@source-health/client).
  const token = await new SignJWT(request.claims)
    .setProtectedHeader({ alg: 'HS256', kid: request.kid })
    .sign(key);
  answer = { token };
} else if (request.op === 'verify') {
  const { payload, protectedHeader } = await jwtVerify(request.token, key, { algorithms: ['HS256'] });
  answer = { header: protectedHeader, payload };
} else {
  throw new Error(`unknown op: ${request.op}`);
}
process.stdout.write(JSON.stringify(answer));
