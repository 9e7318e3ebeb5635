// Signs one partner-API request with the npm package `http-message-signatures` (RFC 9421), not with
// the wallet's own signer: the tests use it as an independent client of the partner API.
// Input (stdin, JSON): {method, url, body, seed (base64 Ed25519 private seed), keyid, nonce, created?}
// Output (stdout, JSON): the request's headers.
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { httpbis } from 'http-message-signatures';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
// An Ed25519 private key from its 32-byte seed: the PKCS#8 DER prefix of RFC 8410 and the seed.
const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(input.seed, 'base64')]);
const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
const body = Buffer.from(input.body, 'utf8');
const request = {
  method: input.method,
  url: input.url,
  headers: {
    'Content-Type': 'application/json',
    // RFC 9530: the SHA-256 of the body as a structured-field byte sequence.
    'Content-Digest': `sha-256=:${createHash('sha256').update(body).digest('base64')}:`,
  },
};
const signed = await httpbis.signMessage({
  key: { id: input.keyid, alg: 'ed25519', sign: async (data) => sign(null, data, key) },
  name: 'sig1',
  fields: ['@method', '@target-uri', 'content-type', 'content-digest'],
  params: ['created', 'keyid', 'nonce', 'tag', 'alg'],
  paramValues: { nonce: input.nonce, tag: 'tdw-partner', created: input.created ? new Date(input.created * 1000) : new Date() },
}, request);
process.stdout.write(JSON.stringify(signed.headers));
