// dpkg version strings: parsing and ordering exactly as dpkg's lib/dpkg/version.c and
// lib/dpkg/parsehelp.c (parseversion) do it. Spec: debian.md §4.
import { DebianError } from './errors.js';

/** A parsed version `[epoch:]upstream[-revision]`. */
export interface DebianVersion {
  readonly epoch: number;
  readonly upstream: string;
  /** Empty when absent; compares equal to "0". */
  readonly revision: string;
}

/** Result of parseVersion: the version plus non-fatal warnings (dpkg prints them and goes on). */
export interface ParsedVersion extends DebianVersion {
  readonly warnings: readonly string[];
}

const INT_MAX = 2147483647;

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Parses a version as dpkg's parseversion does, with dpkg's error texts ("epoch in version is
 * empty", "revision number is empty", ...). Throws DebianError('VERSION_INVALID') naming `what`.
 */
export function parseVersion(input: string, what = 'version'): ParsedVersion {
  const fail = (msg: string): never => {
    throw new DebianError('VERSION_INVALID', `${what}: ${JSON.stringify(input)}: ${msg}`);
  };
  let start = 0;
  while (start < input.length && isBlank(input.charCodeAt(start))) start++;
  if (start === input.length) fail('version string is empty');
  let end = start;
  while (end < input.length && !isBlank(input.charCodeAt(end))) end++;
  let after = end;
  while (after < input.length && isBlank(input.charCodeAt(after))) after++;
  if (after < input.length) fail('version string has embedded spaces');
  let s = input.slice(start, end);

  let epoch = 0;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    // strtol(3) semantics: optional sign, then digits; the number must end exactly at the colon.
    const m = /^[+-]?\d+/.exec(s);
    if (!m) fail('epoch in version is empty');
    const numText = m![0];
    if (numText.length !== colon) fail('epoch in version is not number');
    const value = Number(numText);
    if (value < 0) fail('epoch in version is negative');
    if (value > INT_MAX) fail('epoch in version is too big');
    if (colon + 1 === s.length) fail('nothing after colon in version number');
    epoch = value === 0 ? 0 : value; // -0 from "-0:" is epoch 0, as strtol gives
    s = s.slice(colon + 1);
  }
  let upstream = s;
  let revision = '';
  const hyphen = s.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = s.slice(0, hyphen);
    revision = s.slice(hyphen + 1);
    if (revision === '') fail('revision number is empty');
  }
  if (upstream === '') fail('version number is empty');

  const warnings: string[] = [];
  if (!isDigit(upstream.charCodeAt(0))) warnings.push('version number does not start with digit');
  for (let i = 1; i < upstream.length; i++) {
    const c = upstream.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && '.-+~:'.indexOf(upstream[i]!) < 0) {
      warnings.push('invalid character in version number');
      break;
    }
  }
  for (let i = 0; i < revision.length; i++) {
    const c = revision.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && '.+~'.indexOf(revision[i]!) < 0) {
      warnings.push('invalid character in revision number');
      break;
    }
  }
  return { epoch, upstream, revision, warnings };
}

/** The canonical text of a version (epoch shown only when non-zero, as dpkg prints it). */
export function formatVersion(v: DebianVersion): string {
  return `${v.epoch ? `${v.epoch}:` : ''}${v.upstream}${v.revision ? `-${v.revision}` : ''}`;
}

// order() from dpkg's version.c: digits and end of string 0, letters their ASCII code,
// '~' -1 (sorts before everything, even the end), anything else ASCII + 256.
function order(s: string, i: number): number {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126) return -1;
  return c + 256;
}

/** dpkg's verrevcmp: compares upstream or revision parts. Negative, zero or positive. */
export function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a, i);
      const bc = order(b, j);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    while (i < a.length && j < b.length && isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Compares two parsed versions like dpkg_version_compare: epoch, then upstream, then revision. */
export function compareParsedVersions(a: DebianVersion, b: DebianVersion): number {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch ? 1 : -1;
  const r = verrevcmp(a.upstream, b.upstream);
  if (r) return r;
  return verrevcmp(a.revision, b.revision);
}

// Version strings repeat a lot in an index (every dependency names one); parse each once.
const parsedCache = new Map<string, DebianVersion>();

function cachedParse(v: string): DebianVersion {
  let p = parsedCache.get(v);
  if (!p) {
    p = parseVersion(v);
    if (parsedCache.size > 200_000) parsedCache.clear();
    parsedCache.set(v, p);
  }
  return p;
}

/**
 * Compares two version strings as `dpkg --compare-versions` does; returns <0, 0 or >0.
 * Throws VERSION_INVALID for a malformed version.
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  return compareParsedVersions(cachedParse(a), cachedParse(b));
}

/** A relation operator of Depends-style fields (deb-control.pod); `<` and `>` are the obsolete forms of `<=`/`>=`. */
export type VersionOperator = '<<' | '<=' | '=' | '>=' | '>>';

/** True when `version op reference` holds, e.g. satisfiesVersion('1.2', '>=', '1.0'). */
export function satisfiesVersion(version: string, op: VersionOperator, reference: string): boolean {
  const c = compareVersions(version, reference);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}
