/** Query parameters that carry credentials in registry and object-storage URLs. */
const SECRET_PARAMS = /^(?:token|access_token|refresh_token|password|secret|sig|signature|x-amz-.*|x-goog-.*|x-ms-.*|_state|auth|key|code)$/i;

/** A URL safe to log: no user-info, secret-looking query values replaced by "REDACTED". */
export function redactUrl(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return redactText(String(input));
  }
  if (url.username || url.password) {
    url.username = 'REDACTED';
    url.password = '';
  }
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) url.searchParams.set(key, 'REDACTED');
  }
  return url.toString();
}

const PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 REDACTED'],
  // user:password@ in any scheme://, up to the last @ of the token: a password may hold an unencoded
  // "/" or "@" (then the URL does not even parse). A port ("host:8080/", "host:8080 ") is not a password.
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@[\]"'<>]+:(?!\d*(?:[/?#\s"'<>]|$))[^\s"'<>]*@/gi, '$1REDACTED@'],
  [/("(?:password|secret|token|access_token|refresh_token|identitytoken|auth|Secret)"\s*:\s*")[^"]*(")/gi, '$1REDACTED$2'],
];

/** Replaces well-known secret shapes (auth headers, URL passwords, JSON secret fields) in free text. */
export function redactText(text: string): string {
  let out = text;
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

/**
 * Remembers secrets seen at run time (passwords, tokens) and removes them from any text.
 * One per run, passed to whatever logs.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string | undefined): void {
    if (secret && secret.length >= 4) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = redactText(text);
    for (const s of this.secrets) out = out.split(s).join('REDACTED');
    return out;
  }
}
