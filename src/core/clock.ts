import { CoreError } from './errors.js';

/** Time source, passed in so tests and reproducible builds control it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock stuck at one instant. */
export function fixedClock(at: Date | number): Clock {
  const d = new Date(at);
  return { now: () => new Date(d) };
}

/**
 * Parses SOURCE_DATE_EPOCH (integer seconds since 1970, https://reproducible-builds.org/specs/source-date-epoch/).
 * Malformed values are refused, as apko does.
 */
export function parseSourceDateEpoch(value: string, what = 'SOURCE_DATE_EPOCH'): number {
  const v = value.trim();
  if (!/^\d{1,12}$/.test(v)) {
    throw new CoreError('EPOCH_INVALID', `${what}: ${JSON.stringify(value)} is not a non-negative integer number of seconds`);
  }
  return Number(v);
}

/** RFC 3339 UTC timestamp for epoch seconds, without fractional seconds. */
export function epochToRfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
