// OpenPGP keyrings for Signed-By: binary (.gpg, `gpg --export`) or armored (.asc), from files or
// inline in a .sources file (spec debian.md §2.2: per-source keyring, at least one good signature).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Key, Subkey } from 'openpgp';
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

/**
 * The key packets of `key` that Signed-By fingerprints let sign, as apt's gpgv method decides
 * (methods/gpgv.cc): a primary key's fingerprint allows the key and its subkeys, `FPR!` exactly
 * that key, and a subkey's fingerprint (with or without `!`) that subkey only.
 */
function allowedSigners(key: Key, wanted: readonly string[]): Set<string> {
  const primary = key.getFingerprint().toUpperCase();
  const subkeys = key.getSubkeys().map((s) => s.getFingerprint().toUpperCase());
  const out = new Set<string>();
  for (const w of wanted) {
    const exact = w.endsWith('!');
    const fpr = exact ? w.slice(0, -1) : w;
    if (fpr === primary) {
      out.add(primary);
      if (!exact) for (const s of subkeys) out.add(s);
    } else if (subkeys.includes(fpr)) out.add(fpr);
  }
  return out;
}

let restrictedKeyClass: Promise<new (key: Key, allowed: ReadonlySet<string>) => Key> | undefined;

/**
 * `key` narrowed to some of its key packets: openpgp looks a signature's issuer up with getKeys(),
 * so a packet left out cannot verify anything (the signature counts as by an unknown key).
 */
async function restrictKey(key: Key, allowed: ReadonlySet<string>): Promise<Key> {
  restrictedKeyClass ??= import('openpgp').then(({ PublicKey }) => {
    class RestrictedKey extends PublicKey {
      private readonly allowed: ReadonlySet<string>;
      constructor(source: Key, allowedFingerprints: ReadonlySet<string>) {
        super(source.toPacketList());
        this.allowed = allowedFingerprints;
      }
      override getKeys(keyID?: Parameters<Key['getKeys']>[0]): Array<this | Subkey> {
        return super.getKeys(keyID).filter((k) => this.allowed.has(k.getFingerprint().toUpperCase()));
      }
    }
    return RestrictedKey;
  });
  const Restricted = await restrictedKeyClass;
  return new Restricted(key, allowed);
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
  let selected = keys;
  if (signedBy?.fingerprints.length) {
    selected = [];
    for (const k of keys) {
      const allowed = allowedSigners(k, signedBy.fingerprints);
      if (allowed.size === 0) continue;
      selected.push(allowed.size === k.getSubkeys().length + 1 ? k : await restrictKey(k, allowed));
    }
  }
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
