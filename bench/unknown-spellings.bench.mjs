// Unknown spellings: a flood of other spellings of valid tokens (the same bytes in base64url with
// a segment's trailing bits set), which a base64url decoder reads as the valid token. Each could
// cost a verification, and an entry in the verified-token cache, if it were accepted; the
// verifier refuses them by their spelling (`non_canonical_encoding`) before any key or signature
// work. Measured side by side in the same rounds: a refused spelling, junk refused before any
// decode (what any refusal costs: a typed error, rejected), a token refused after its decode (payload not JSON), a verification (unique tokens, never a cache hit), a cache hit (one
// token repeated), and the decode every verifier does first, without a verifier around it.
import { createPublicKey } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';
import { IdTokenVerifier, TokenVerificationError } from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { median, medianRatio, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// More than the verified-token cache holds (1000), so that cycling through them never hits it.
const TOKENS = 2000;
const REPEATS = 20_000;
const ROUNDS = 7;

/** The 15 other spellings of an RS256 signature (342 characters: the last one carries 4 spare bits). */
function signatureSpellings(token) {
  const dot = token.lastIndexOf('.');
  const signature = token.slice(dot + 1);
  const last = ALPHABET.indexOf(signature.at(-1));
  return Array.from(
    { length: 15 },
    (_, i) => `${token.slice(0, dot + 1)}${signature.slice(0, -1)}${ALPHABET[last | (i + 1)]}`,
  );
}

/** `token` with a payload that is not JSON (its last byte cut), canonically spelt: refused once decoded. */
function notJson(token) {
  const [header, payload, signature] = token.split('.');
  const broken = Buffer.from(payload, 'base64url').subarray(0, -1).toString('base64url');
  return `${header}.${broken}.${signature}`;
}

/** The decode every verifier does before anything else: split, base64url-decode and JSON.parse header and payload. */
function decodeFloor(token) {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString());
  const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString());
  return header.kid && payload.email;
}

/** The keys of a JWKS document, each lookup counted: no signature is checked without one. */
class CountingKeyStore {
  lookups = 0;
  constructor(jwks) {
    this.keys = new Map(jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]));
  }
  async getKey(kid) {
    this.lookups += 1;
    return this.keys.get(kid);
  }
}

const emu = await startEmulator();
let rows;
let counts;
let accepted;
try {
  const tokens = Array.from({ length: TOKENS }, (_, i) =>
    emu.mintIdToken({ aud: AUDIENCE, email: `caller-${i}@emulator-project.iam.gserviceaccount.com` }),
  );
  const flood = tokens.flatMap(signatureSpellings);

  // Each spelling verifies, as base64url decoders read it: with google-auth-library, as a check.
  const pems = await (await fetch(emu.pemCertsUrl)).json();
  const google = new OAuth2Client();
  accepted = 0;
  for (const spelling of flood.slice(0, 150)) {
    await google.verifySignedJwtWithCertsAsync(spelling, pems, AUDIENCE, ['https://accounts.google.com']);
    accepted += 1;
  }

  // Counted, not timed: the flood through a verifier whose key lookups are counted.
  const store = new CountingKeyStore(await (await fetch(emu.certsUrl)).json());
  const counted = new IdTokenVerifier({ audience: AUDIENCE }, store);
  for (const token of tokens.slice(0, 100)) await counted.verify(token);
  const lookupsBefore = store.lookups;
  const reasons = new Map();
  for (const spelling of flood) {
    try {
      await counted.verify(spelling);
      reasons.set('accepted', (reasons.get('accepted') ?? 0) + 1);
    } catch (error) {
      const reason = error instanceof TokenVerificationError ? error.reason : String(error);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  counts = {
    spellings: flood.length,
    reasons: Object.fromEntries(reasons),
    keyLookupsDuringFlood: store.lookups - lookupsBefore,
    cachedSpellings: flood.filter((s) => counted.verification.verifiedTokens.get(s, Date.now()) !== undefined).length,
  };

  const ours = new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
  /** A run that expects `ours` to refuse its token with `reason`. */
  const refusedAs = (reason, what) => async (t) => {
    try {
      await ours.verify(t);
    } catch (error) {
      if (error.reason === reason) return;
      throw error;
    }
    throw new Error(`${what} was accepted`);
  };
  const contenders = {
    spelling: {
      label: 'other spelling of a valid token (refused)',
      list: flood.slice(0, TOKENS),
      run: refusedAs('non_canonical_encoding', 'a spelling'),
    },
    junk: {
      label: 'junk refused before any decode (no dots: the cheapest refusal)',
      list: tokens.map((t) => t.replace(/\./g, '')),
      run: refusedAs('malformed', 'junk'),
    },
    malformed: {
      label: 'token refused after its decode (payload not JSON)',
      list: tokens.map(notJson),
      run: refusedAs('malformed', 'a malformed token'),
    },
    verification: {
      label: 'verification (unique tokens)',
      list: tokens,
      run: async (t) => {
        if (!(await ours.verify(t)).email) throw new Error('no email');
      },
    },
    hit: {
      label: 'cache hit (one token repeated)',
      list: Array(REPEATS).fill(tokens[0]),
      run: async (t) => {
        if (!(await ours.verify(t)).email) throw new Error('no email');
      },
    },
    decode: {
      label: 'decode floor (split, base64url, JSON.parse)',
      list: tokens,
      run: (t) => {
        if (!decodeFloor(t)) throw new Error('no kid');
      },
    },
  };

  /** ns per call over `list`, sequentially. */
  async function timed({ list, run }) {
    const started = process.hrtime.bigint();
    for (const t of list) {
      const result = run(t);
      if (result) await result;
    }
    return Number(process.hrtime.bigint() - started) / list.length;
  }

  // Warm-up: JIT, and the key store's first fetch.
  for (const contender of Object.values(contenders)) await timed(contender);
  const names = Object.keys(contenders);
  const perRound = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(r + i) % names.length];
      perRound[name].push(await timed(contenders[name]));
    }
  }
  rows = names.map((name) => ({
    name,
    what: contenders[name].label,
    nsPerCall: round(median(perRound[name]), 0),
    rounds: perRound[name].map((x) => round(x, 0)).join(' '),
    spellingVsThis: round(medianRatio(perRound.spelling, perRound[name]), 3),
  }));
} finally {
  await emu.close();
}

printTable(
  `Unknown spellings: ${TOKENS} of the 15 other spellings of ${TOKENS} valid tokens' signatures, median of ${ROUNDS} rounds, one thread`,
  [
    ['what', 'Input'],
    ['nsPerCall', 'ns per verify() (median)'],
    ['rounds', 'per round'],
    ['spellingVsThis', 'refused spelling / this'],
  ],
  rows,
);
console.log(
  `\nFlood of ${counts.spellings} spellings through the verifier: ${JSON.stringify(counts.reasons)}; ` +
    `key lookups during the flood: ${counts.keyLookupsDuringFlood}; spellings cached: ${counts.cachedSpellings}. ` +
    `google-auth-library accepted ${accepted} of the first ${accepted} spellings.`,
);
const row = (name) => rows.find((r) => r.name === name);
const vsVerification = row('verification').spellingVsThis;
const vsMalformed = row('malformed').spellingVsThis;
const targets = [
  target(
    'refused spelling ≤ a token refused after its decode (one decode, not a verification)',
    vsMalformed,
    vsMalformed <= 1,
  ),
  target(
    'no key lookup and no cache entry for any spelling',
    `${counts.keyLookupsDuringFlood} lookups, ${counts.cachedSpellings} cached, ${counts.reasons.non_canonical_encoding ?? 0} of ${counts.spellings} refused as non_canonical_encoding`,
    counts.keyLookupsDuringFlood === 0 &&
      counts.cachedSpellings === 0 &&
      counts.reasons.non_canonical_encoding === counts.spellings,
  ),
];
printTargets(targets);
writeSection('unknownSpellings', {
  description:
    `${TOKENS} valid tokens, each with the 15 other spellings of its RS256 signature (trailing bits of the last character set). ` +
    'Sequential verify() calls on one thread, ns per call; ratios are medians of per-round ratios. ' +
    'Spelling: refused with non_canonical_encoding. Junk: the same tokens without their dots, refused as malformed before any decode. Malformed: the same tokens with a payload that is not JSON, refused after decoding. Verification: unique tokens (more than the cache holds, never a hit). ' +
    'Cache hit: one token repeated. Decode floor: split + base64url + JSON.parse of header and payload, no verifier.',
  tokens: TOKENS,
  rounds: ROUNDS,
  rows,
  counts,
  googleAuthLibraryAcceptedSpellings: accepted,
  headline: {
    spellingVsVerification: vsVerification,
    spellingVsMalformed: vsMalformed,
    spellingVsJunk: row('junk').spellingVsThis,
    spellingVsCacheHit: row('hit').spellingVsThis,
    spellingVsDecodeFloor: row('decode').spellingVsThis,
  },
  targets,
});
