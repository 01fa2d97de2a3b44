// Docker Hub pull limits (registry.md §7): `ratelimit-limit: 100;w=21600`,
// `ratelimit-remaining: 20;w=21600`, `docker-ratelimit-source: <ip>`. Missing headers = unlimited.

/** A rate-limit observation from one response. */
export interface RateLimit {
  /** Requests allowed per window. */
  readonly limit: number;
  /** Requests left in the window, when the registry said. */
  readonly remaining?: number;
  /** Window length in seconds, when given (`w=`). */
  readonly windowSeconds?: number;
  /** Who is counted (an IP address or account id), when given. */
  readonly source?: string;
}

function parseOne(value: string | null): { n: number; w?: number } | undefined {
  if (!value) return undefined;
  // Several policies may be comma-separated; the first is the one in force.
  const first = value.split(',')[0] ?? '';
  const [count, ...params] = first.split(';').map((s) => s.trim());
  if (!count || !/^\d+$/.test(count)) return undefined;
  let w: number | undefined;
  for (const p of params) {
    const m = /^w=(\d+)$/.exec(p);
    if (m) w = Number(m[1]);
  }
  return { n: Number(count), ...(w !== undefined ? { w } : {}) };
}

/** Reads the rate-limit headers of a response, or undefined when there are none. */
export function parseRateLimit(headers: { get(name: string): string | null }): RateLimit | undefined {
  const limit = parseOne(headers.get('ratelimit-limit'));
  if (!limit) return undefined;
  const remaining = parseOne(headers.get('ratelimit-remaining'));
  const source = headers.get('docker-ratelimit-source') ?? undefined;
  const windowSeconds = limit.w ?? remaining?.w;
  return {
    limit: limit.n,
    ...(remaining ? { remaining: remaining.n } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
    ...(source ? { source } : {}),
  };
}

/** Retry-After in ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: Date = new Date()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now.getTime());
}
