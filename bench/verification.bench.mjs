// Verification: ID tokens verified per second, single-threaded, by our IdTokenVerifier,
// google-auth-library, jose, and raw node:crypto (the floor no verifier can beat), for unique
// tokens and for one repeated token (where our verified-token cache answers).
import { createPublicKey, verify } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { IdTokenVerifier } from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { median, medianRatio, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];
// Minting is an RSA signature (~1 ms here), so the set is minted once and every contender
// verifies the same tokens in every round. 4000 is more than our verified-token cache holds
// (1000, LRU), so cycling through them in order never hits it: each verification is a real one.
const UNIQUE_TOKENS = 4000;
const REPEATS = 5000;
const ROUNDS = 7;

const emu = await startEmulator();
let rowsUnique;
let rowsRepeated;
let mintSeconds;
try {
  const mintStarted = performance.now();
  const tokens = Array.from({ length: UNIQUE_TOKENS }, (_, i) =>
    emu.mintIdToken({ aud: AUDIENCE, email: `caller-${i}@emulator-project.iam.gserviceaccount.com` }),
  );
  mintSeconds = (performance.now() - mintStarted) / 1000;
  const jwks = await (await fetch(emu.certsUrl)).json();
  const pems = await (await fetch(emu.pemCertsUrl)).json();

  const ours = new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
  const google = new OAuth2Client();
  const joseKeys = createLocalJWKSet(jwks);
  // The floor: what any verifier must do at least. Split the token, base64url-decode and
  // JSON.parse header and payload, look the kid up among KeyObjects imported once, decode the
  // signature, RSA-verify. No claim checks (they are a few comparisons).
  const floorKeys = new Map(jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]));
  const floor = (token) => {
    const [h, p, s] = token.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const input = Buffer.from(token.slice(0, h.length + 1 + p.length));
    if (!verify('sha256', input, floorKeys.get(header.kid), Buffer.from(s, 'base64url')))
      throw new Error('bad signature');
    return payload;
  };

  // Each returns the verified email, checked below so that no contender is fast by failing.
  const contenders = {
    ours: async (t) => (await ours.verify(t)).email,
    google: async (t) => (await google.verifySignedJwtWithCertsAsync(t, pems, AUDIENCE, ISSUERS)).getPayload().email,
    jose: async (t) =>
      (await jwtVerify(t, joseKeys, { audience: AUDIENCE, issuer: ISSUERS, algorithms: ['RS256'] })).payload.email,
    floor: (t) => floor(t).email,
  };
  const labels = {
    ours: 'IdTokenVerifier.verify',
    google: 'google OAuth2Client.verifySignedJwtWithCertsAsync',
    jose: 'jose jwtVerify (local JWKS)',
    floor: 'node:crypto.verify floor',
  };

  /** Verifies `list` in order with `fn`; returns verifications/s. Sync contenders are not awaited. */
  async function timed(fn, list) {
    const started = performance.now();
    for (const t of list) {
      const result = fn(t);
      const email = typeof result === 'string' ? result : await result;
      if (!email) throw new Error('verification returned no email');
    }
    return list.length / ((performance.now() - started) / 1000);
  }

  async function rounds(list) {
    const names = Object.keys(contenders);
    const perRound = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(r + i) % names.length];
        perRound[name].push(await timed(contenders[name], list));
      }
    }
    return names.map((name) => ({
      verifier: labels[name],
      perSecond: round(median(perRound[name]), 0),
      rounds: perRound[name].map((x) => round(x, 0)).join(' '),
      oursVsThis: round(medianRatio(perRound.ours, perRound[name]), 3),
      vsFloor: round(medianRatio(perRound[name], perRound.floor), 3),
    }));
  }

  // Warm-up: JIT, and our key store's first JWKS fetch; a token outside the timed set.
  const warm = emu.mintIdToken({ aud: AUDIENCE, email: 'warm@emulator-project.iam.gserviceaccount.com' });
  for (const fn of Object.values(contenders)) await timed(fn, Array(200).fill(warm).concat(tokens.slice(0, 200)));

  rowsUnique = await rounds(tokens);
  rowsRepeated = await rounds(Array(REPEATS).fill(tokens[0]));
} finally {
  await emu.close();
}

const columns = [
  ['verifier', 'Verifier'],
  ['perSecond', 'verifications/s (median)'],
  ['rounds', 'per round'],
  ['oursVsThis', 'ours / this'],
  ['vsFloor', 'this / floor'],
];
printTable(`Verification, ${UNIQUE_TOKENS} unique tokens, median of ${ROUNDS} rounds, one thread`, columns, rowsUnique);
printTable(`Verification, one token repeated ${REPEATS} times, median of ${ROUNDS} rounds`, columns, rowsRepeated);
const oursVsFloor = rowsUnique[0].vsFloor;
const targets = [target('verifier ≥ 0.8× raw crypto (unique tokens)', oursVsFloor, oursVsFloor >= 0.8)];
printTargets(targets);
writeSection('verification', {
  description:
    'Sequential verifications per second on one thread; ratios are medians of per-round ratios. Unique: every token distinct (never a cache hit). Repeated: one token verified again and again. ' +
    'Floor: split + base64url/JSON.parse of header and payload + kid lookup + signature decode + crypto.verify with a KeyObject imported once; no claim checks.',
  uniqueTokens: UNIQUE_TOKENS,
  repeats: REPEATS,
  rounds: ROUNDS,
  mintSeconds: round(mintSeconds, 1),
  unique: rowsUnique,
  repeated: rowsRepeated,
  headline: {
    oursVsFloorUnique: oursVsFloor,
    oursVsGoogleUnique: rowsUnique[1].oursVsThis,
    oursVsJoseUnique: rowsUnique[2].oursVsThis,
    oursVsFloorRepeated: rowsRepeated[0].vsFloor,
  },
  targets,
});
