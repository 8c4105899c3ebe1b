/** What Cloud Run puts in place of the signature of an ID token it has checked (a private service's). */
export const STRIPPED_SIGNATURE = 'SIGNATURE_REMOVED_BY_GOOGLE';
