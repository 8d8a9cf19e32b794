// Signing in the browser: the same compact JWS as perci_schemas.jws.sign (docs/API.md
// "Signed documents"), made with WebCrypto from the party's own private key.
//
// Why here and not on the broker: the broker's record is the legal evidence of what
// each party sent (TCO Art. 3(5)); if the broker held the parties' keys, a signature
// would prove nothing about the party. The key is read from the credentials file the
// user picks, imported as a non-extractable CryptoKey, and never leaves the page.

const encoder = new TextEncoder();

/** RFC 8785 (JCS) canonical JSON of the documents the exchange signs. */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    // ECMAScript's number serialisation is the one JCS specifies.
    if (!Number.isFinite(value)) throw new Error("JSON has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (typeof value === "object") {
    // Array.prototype.sort compares UTF-16 code units: exactly JCS's member order.
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
  }
  throw new Error("not JSON: " + typeof value);
}

/** base64url without padding (RFC 7515 §2). */
export function b64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64urlDecode(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** The JSON payload of a compact JWS (not verified: for display only). */
export function jwsPayload(token) {
  return JSON.parse(new TextDecoder().decode(b64urlDecode(token.split(".")[1])));
}

export function jwsHeader(token) {
  return JSON.parse(new TextDecoder().decode(b64urlDecode(token.split(".")[0])));
}

/** The JWS ``typ`` of a message type (perci_schemas.messages.typ_for). */
export function typFor(messageType) {
  return "perci." + messageType.replace(/_/g, "-") + "+jws";
}

const ALGORITHMS = {
  EdDSA: { kty: "OKP", crv: "Ed25519", importAlg: { name: "Ed25519" }, signAlg: { name: "Ed25519" } },
  ES256: {
    kty: "EC",
    crv: "P-256",
    importAlg: { name: "ECDSA", namedCurve: "P-256" },
    // WebCrypto's ECDSA signature is r || s, which is exactly JWS ES256's (RFC 7518 §3.4).
    signAlg: { name: "ECDSA", hash: "SHA-256" },
  },
};

function algOf(jwk) {
  for (const [alg, spec] of Object.entries(ALGORITHMS)) {
    if (jwk.kty === spec.kty && jwk.crv === spec.crv) return alg;
  }
  throw new Error("unsupported key type (use Ed25519 or P-256)");
}

/**
 * Load a signing key from a credentials file's text (perci-sim init writes
 * ``{participant_id, kid, private_jwk, ...}``). Returns {participantId, kid, alg, key}.
 */
export async function loadSigningKey(text) {
  const data = JSON.parse(text);
  const jwk = data.private_jwk;
  if (!jwk || typeof jwk !== "object" || !jwk.d) throw new Error("no private_jwk in this file");
  if (typeof data.kid !== "string" || typeof data.participant_id !== "string") {
    throw new Error("no kid or participant_id in this file");
  }
  const alg = algOf(jwk);
  const spec = ALGORITHMS[alg];
  const members = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
  if (jwk.y) members.y = jwk.y;
  // extractable = false: not even this page's own script can read the key back.
  const key = await crypto.subtle.importKey("jwk", members, spec.importAlg, false, ["sign"]);
  return { participantId: data.participant_id, kid: data.kid, alg, key };
}

/** Sign ``document`` as a compact JWS of ``messageType`` (same bytes as the Python SDK). */
export async function signDocument(document, messageType, signer) {
  // Header members in perci_schemas.jws.sign's order; joserfc writes them compactly.
  const header = { alg: signer.alg, kid: signer.kid, typ: typFor(messageType) };
  const input =
    b64url(encoder.encode(JSON.stringify(header))) +
    "." +
    b64url(encoder.encode(canonicalJson(document)));
  const signature = await crypto.subtle.sign(
    ALGORITHMS[signer.alg].signAlg,
    signer.key,
    encoder.encode(input),
  );
  return input + "." + b64url(new Uint8Array(signature));
}
