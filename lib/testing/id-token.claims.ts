/** A stable numeric unique ID per email, shaped like Google's (21 digits): the `sub` of its tokens. */
export function uniqueIdOf(email: string): string {
  return BigInt('0x' + Buffer.from(email).toString('hex').slice(0, 26).padEnd(26, '0'))
    .toString()
    .slice(0, 21);
}

/** The claims of a Google ID token for `email` and `audience`, as the metadata server's `format=full` gives them. */
export function idTokenClaims(
  email: string,
  audience: string,
  iat: number,
  lifetimeSeconds: number,
): Record<string, unknown> {
  return {
    iss: 'https://accounts.google.com',
    aud: audience,
    azp: uniqueIdOf(email),
    sub: uniqueIdOf(email),
    email,
    email_verified: true,
    iat,
    exp: iat + lifetimeSeconds,
  };
}
