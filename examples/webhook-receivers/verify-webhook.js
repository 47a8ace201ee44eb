// Verify a hubrelay webhook request: a receiver's reference for Node.js, no dependencies.
//
// The scheme (docs/webhooks.md): `X-Hubrelay-Signature: v2=<hex HMAC-SHA256>` over
// `<timestamp>.<delivery id>.<raw body>`, keyed by the signing secret named in
// `X-Hubrelay-Key-Id`. Anything malformed (a missing, repeated, over-long or non-ASCII
// header, an unknown key id, a timestamp outside the replay window) is refused: answer 401.
//
// Run it as a receiver: `node verify-webhook.js 8080 key-id=secret`.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");

const REPLAY_WINDOW_S = 300;
const MAX_BODY_BYTES = 6 * 1024 * 1024;
const TIMESTAMP = /^[0-9]{1,12}$/;
const DELIVERY = /^[0-9a-f]{32}$/;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const SIGNATURE = /^v2=([0-9a-f]{64})$/;

// The one value of a header, or null when it is missing, repeated or not text. Node joins
// most repeated headers with ", ", which the patterns above then refuse.
function header(headers, name) {
  const found = Object.keys(headers).filter((key) => key.toLowerCase() === name);
  if (found.length !== 1 || typeof headers[found[0]] !== "string") return null;
  return headers[found[0]];
}

// Whether the request was signed by hubrelay with one of `secrets` (key id -> secret).
function verify(headers, rawBody, secrets, now = Date.now() / 1000) {
  const timestamp = header(headers, "x-hubrelay-timestamp");
  const delivery = header(headers, "x-hubrelay-delivery");
  const keyId = header(headers, "x-hubrelay-key-id");
  const signature = header(headers, "x-hubrelay-signature");
  if (timestamp === null || delivery === null || keyId === null || signature === null) {
    return false;
  }
  const given = SIGNATURE.exec(signature);
  if (!TIMESTAMP.test(timestamp) || !DELIVERY.test(delivery) || !given) return false;
  if (!KEY_ID.test(keyId) || !Object.prototype.hasOwnProperty.call(secrets, keyId)) {
    return false;
  }
  if (Math.abs(now - Number(timestamp)) > REPLAY_WINDOW_S) return false;
  const expected = crypto
    .createHmac("sha256", secrets[keyId])
    .update(Buffer.concat([Buffer.from(`${timestamp}.${delivery}.`), rawBody]))
    .digest();
  return crypto.timingSafeEqual(expected, Buffer.from(given[1], "hex"));
}

function receiver(secrets) {
  return http.createServer((request, response) => {
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) request.destroy();
      else chunks.push(chunk);
    });
    request.on("end", () => {
      const ok = verify(request.headers, Buffer.concat(chunks), secrets);
      response.writeHead(ok ? 204 : 401).end();
    });
  });
}

module.exports = { verify, receiver };

if (require.main === module) {
  const [port, ...pairs] = process.argv.slice(2);
  const secrets = Object.fromEntries(pairs.map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
  receiver(secrets).listen(Number(port), "127.0.0.1");
}
