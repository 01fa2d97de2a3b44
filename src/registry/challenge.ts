// WWW-Authenticate parsing (RFC 7235 §4.1, RFC 6750 §3). Values are quoted strings that may hold
// commas (`scope="repository:a:pull,push"`) and one header may carry several challenges
// (`Basic realm="x", Bearer realm="y",service="z"`), so a naive split on "," is wrong (registry.md §6.1).

/** One authentication challenge: its scheme (lower-case) and parameters (names lower-case). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const SPACE = /[ \t]*/y;

/** Parses every challenge in a WWW-Authenticate value (several header lines may be joined with ", "). */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    SPACE.lastIndex = i;
    SPACE.exec(header);
    i = SPACE.lastIndex;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(header);
    if (!m) return undefined;
    i = TOKEN.lastIndex;
    return m[0];
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = token();
    if (word === undefined) {
      i++; // junk character: skip it rather than loop forever
      continue;
    }
    skipSpace();
    if (header[i] === '=' && current) {
      // auth-param: name=value (token or quoted-string)
      i++;
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        value = token() ?? '';
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (header[i] === '=' && !current) {
      i = start + word.length + 1; // a parameter before any scheme: ignore it
      continue;
    }
    // A new scheme. A token68 (base64-ish blob) may follow; it carries no params we use.
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The challenge lading answers: Bearer wins over Basic (registry.md §6.1). */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/**
 * Splits a scope string into resource scopes (`scope.md`): scopes are separated by spaces; in
 * `type:name:actions` the name may contain `host:port`, so type ends at the first colon and
 * actions start after the last one.
 */
export function parseScope(scope: string): Array<{ type: string; name: string; actions: string[] }> {
  const out: Array<{ type: string; name: string; actions: string[] }> = [];
  for (const part of scope.split(' ')) {
    if (!part) continue;
    const first = part.indexOf(':');
    const last = part.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    out.push({ type: part.slice(0, first), name: part.slice(first + 1, last), actions: part.slice(last + 1).split(',').filter(Boolean) });
  }
  return out;
}

/** Joins scopes of the same resource and sorts everything, so equal sets give equal strings (token cache keys). */
export function normalizeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of scopes) {
    for (const r of parseScope(s)) {
      const key = `${r.type}:${r.name}`;
      const set = byResource.get(key) ?? new Set<string>();
      for (const a of r.actions) set.add(a);
      byResource.set(key, set);
    }
  }
  return [...byResource.entries()].map(([k, acts]) => `${k}:${[...acts].sort().join(',')}`).sort();
}

/** True when every action of every scope in `needed` is in `granted`. */
export function scopesCover(granted: readonly string[], needed: readonly string[]): boolean {
  const have = new Map<string, Set<string>>();
  for (const r of granted.flatMap((g) => parseScope(g))) {
    const key = `${r.type}:${r.name}`;
    const set = have.get(key) ?? new Set<string>();
    for (const a of r.actions) set.add(a);
    have.set(key, set);
  }
  return needed.flatMap((n) => parseScope(n)).every((r) => {
    const set = have.get(`${r.type}:${r.name}`);
    return set !== undefined && r.actions.every((a) => set.has(a) || set.has('*'));
  });
}

/** The scope string for a repository (`repository:<name>:<actions>`). */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}
