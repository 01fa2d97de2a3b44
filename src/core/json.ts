import { CoreError } from './errors.js';

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, no undefined members.
 * Used where lading chooses the bytes (image configs, lockfiles, plans) so the same value always
 * hashes the same. Never use it to re-serialise a manifest someone else wrote.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, new Set()));
}

function sortKeys(value: unknown, seen: Set<unknown>): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new CoreError('JSON_INVALID', `canonical JSON: non-finite number ${value}`);
    }
    return value;
  }
  if (seen.has(value)) throw new CoreError('JSON_INVALID', 'canonical JSON: cyclic value');
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((v) => (v === undefined ? null : sortKeys(v, seen)));
  } else {
    const obj: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) obj[key] = sortKeys(v, seen);
    }
    out = obj;
  }
  seen.delete(value);
  return out;
}

/** Canonical JSON as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

/** Pretty JSON for files people read (two spaces, sorted keys, trailing newline). */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(value)), null, 2)}\n`;
}

/**
 * Parses JSON bytes, naming the source on failure ("<what>: invalid JSON: ...").
 * `maxBytes` guards against hostile inputs.
 */
export function parseJson(data: Uint8Array | string, what: string, maxBytes = 64 << 20): unknown {
  const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: false }).decode(data);
  if (text.length > maxBytes) throw new CoreError('JSON_INVALID', `${what}: larger than ${maxBytes} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CoreError('JSON_INVALID', `${what}: invalid JSON: ${withLine((err as Error).message, text)}`);
  }
}

/** V8's "at position N" with the line and column people look for (Node 20 gives only the offset). */
function withLine(message: string, text: string): string {
  const m = /at position (\d+)(?! \(line)/.exec(message);
  if (!m) return message;
  const at = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const col = at - before.lastIndexOf('\n');
  return message.replace(m[0], `${m[0]} (line ${line}, column ${col})`);
}
