// OpenPGP keyrings for Signed-By: binary (.gpg, `gpg --export`) or armored (.asc), from files or
// inline in a .sources file (spec debian.md §2.2: per-source keyring, at least one good signature).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Key } from 'openpgp';
import { errnoCode, fsReason } from '../core/index.js';
import { DebianError } from './errors.js';
import type { SignedBy } from './sources.js';

/** Public keys a source trusts, and where they came from (for messages and the lock). */
export interface Keyring {
  readonly keys: readonly Key[];
  /** Primary key fingerprints, upper-case hex, sorted. */
  readonly fingerprints: readonly string[];
  /** Keyring files (or "inline") the keys were read from. */
  readonly origins: readonly string[];
}

/** Parses keyring bytes: armored when the text starts with an armor header, else binary packets. */
export async function parseKeyring(data: Uint8Array, what: string): Promise<Key[]> {
  const head = Buffer.from(data.subarray(0, 64)).toString('latin1');
  if (head.slice(4, 8) === 'KBXf') {
    throw new DebianError('KEYRING_INVALID', `${what}: a GnuPG keybox (pubring.kbx) is not a keyring apt can use`, {
      hint: 'export it with: gpg --export KEYID > keyring.gpg',
    });
  }
  try {
    // openpgp is loaded on first use: a warm resolve whose Release verification is cached never needs it.
    const { readKeys } = await import('openpgp');
    if (head.trimStart().startsWith('-----BEGIN PGP')) return await readKeys({ armoredKeys: Buffer.from(data).toString('utf8') });
    return await readKeys({ binaryKeys: data });
  } catch (err) {
    throw new DebianError('KEYRING_INVALID', `${what}: cannot read OpenPGP keys: ${(err as Error).message}`, { cause: err });
  }
}

/** apt's trust when a source has no Signed-By: /etc/apt/trusted.gpg and /etc/apt/trusted.gpg.d/*.{gpg,asc}. */
export async function defaultKeyringPaths(root = '/'): Promise<string[]> {
  const out: string[] = [];
  const legacy = join(root, 'etc/apt/trusted.gpg');
  try {
    await readFile(legacy);
    out.push(legacy);
  } catch {
    // absent on current systems
  }
  try {
    const dir = join(root, 'etc/apt/trusted.gpg.d');
    out.push(
      ...(await readdir(dir))
        .filter((n) => /\.(gpg|asc)$/.test(n))
        .sort()
        .map((n) => join(dir, n)),
    );
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  return out;
}

function matchesFingerprint(key: Key, wanted: readonly string[]): boolean {
  const fps = [key.getFingerprint(), ...key.getSubkeys().map((s) => s.getFingerprint())].map((f) => f.toUpperCase());
  return wanted.some((w) => fps.some((f) => f === w || (w.length === 16 && f.endsWith(w))));
}

/** Options of loadKeyring. */
export interface LoadKeyringOptions {
  /** Root for apt's default trusted keyrings (default "/"). */
  root?: string;
  /** Memo of parsed keyring files, shared across sources in one run. */
  memo?: Map<string, Promise<Key[]>>;
  signal?: AbortSignal;
}

/**
 * Loads the keys a source's Signed-By names (or apt's default trusted keyrings when absent).
 * A keyring without any usable key is an error: nothing could ever verify against it.
 */
export async function loadKeyring(signedBy: SignedBy | undefined, options: LoadKeyringOptions = {}): Promise<Keyring> {
  const paths = signedBy ? [...signedBy.keyrings] : await defaultKeyringPaths(options.root);
  const memo = options.memo ?? new Map<string, Promise<Key[]>>();
  const keys: Key[] = [];
  const origins: string[] = [];
  for (const path of paths) {
    let p = memo.get(path);
    if (!p) {
      p = readFile(path, { signal: options.signal }).then(
        (data) => parseKeyring(data, `keyring ${path}`),
        (err: unknown) => {
          throw new DebianError('KEYRING_INVALID', `keyring ${path}: ${fsReason(err)}`);
        },
      );
      memo.set(path, p);
    }
    keys.push(...(await p));
    origins.push(path);
  }
  if (signedBy?.inline) {
    keys.push(...(await parseKeyring(Buffer.from(signedBy.inline), 'inline Signed-By key block')));
    origins.push('inline');
  }
  const selected = signedBy?.fingerprints.length ? keys.filter((k) => matchesFingerprint(k, signedBy.fingerprints)) : keys;
  if (selected.length === 0) {
    const from = origins.length ? origins.join(', ') : 'no keyring files (Signed-By absent and /etc/apt/trusted.gpg.d empty)';
    throw new DebianError('KEYRING_INVALID', `no usable OpenPGP key in ${from}${signedBy?.fingerprints.length ? ` matching ${signedBy.fingerprints.join(', ')}` : ''}`);
  }
  return {
    keys: selected,
    fingerprints: [...new Set(selected.map((k) => k.getFingerprint().toUpperCase()))].sort(),
    origins,
  };
}

/**
 * A short identity of what a Signed-By trusts (the bytes of its keyring files, the inline block
 * and the fingerprint filter), without parsing any key: it names cached verification results.
 */
export async function keyringIdentity(signedBy: SignedBy | undefined, root = '/', signal?: AbortSignal): Promise<string> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  const paths = signedBy ? [...signedBy.keyrings] : await defaultKeyringPaths(root);
  for (const path of paths) {
    h.update(`file ${path}\n`);
    h.update(await readFile(path, { signal }).catch(() => Buffer.from('missing')));
  }
  if (signedBy?.inline) h.update(`inline\n${signedBy.inline}`);
  h.update(`fingerprints ${(signedBy?.fingerprints ?? []).join(',')}`);
  return h.digest('hex').slice(0, 32);
}
