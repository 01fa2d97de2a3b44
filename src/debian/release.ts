// Release / InRelease: signature check against the source's keyring and the fields lading relies
// on (spec debian.md §2). Fields are parsed from the verified text only.
import type { Key } from 'openpgp';
import { parseDeb822, splitWords } from './deb822.js';
import { DebianError } from './errors.js';
import type { Keyring } from './keyring.js';

/** One entry of the Release SHA256 section: a path relative to `dists/<suite>/`. */
export interface ReleaseFileEntry {
  readonly path: string;
  readonly size: number;
  /** Lower-case hex. */
  readonly sha256: string;
}

/** The Release fields lading uses (spec §2.1). */
export interface Release {
  readonly origin?: string;
  readonly label?: string;
  readonly suite?: string;
  readonly codename?: string;
  readonly version?: string;
  readonly date?: Date;
  readonly validUntil?: Date;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly acquireByHash: boolean;
  /** `No-Support-for-Architecture-all: Packages`: `all` packages are also in every binary-<arch> index, binary-all is not needed (apt skips it). */
  readonly allInArchIndexes: boolean;
  /** SHA256 section by path. MD5Sum/SHA1 are ignored for trust (spec §2.1). */
  readonly files: ReadonlyMap<string, ReleaseFileEntry>;
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** Parses a Release date: `date -uR` style with zone UTC, GMT, Z or +0000 (wiki, spec §2.1). */
export function parseReleaseDate(value: string, what: string): Date {
  const m = /^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(UTC|GMT|Z|[+-]0000)$/.exec(value.trim());
  const month = m ? MONTHS[m[2]!.toLowerCase()] : undefined;
  if (!m || month === undefined) throw new DebianError('RELEASE_INVALID', `${what}: invalid date ${JSON.stringify(value)} (want e.g. "Sat, 11 Jul 2026 10:16:37 UTC")`);
  return new Date(Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
}

/** Parses Release text (already verified). Malformed fields fail with RELEASE_INVALID naming `what`. */
export function parseRelease(text: string, what: string): Release {
  const paragraphs = parseDeb822(text, { what });
  const p = paragraphs[0];
  if (!p) throw new DebianError('RELEASE_INVALID', `${what}: empty Release`);
  const files = new Map<string, ReleaseFileEntry>();
  const sha = p.get('SHA256');
  if (sha !== undefined) {
    for (const line of sha.split('\n')) {
      const words = splitWords(line);
      if (words.length === 0) continue;
      const [hex, size, path] = words;
      if (words.length !== 3 || !/^[0-9a-fA-F]{64}$/.test(hex!) || !/^\d+$/.test(size!)) {
        throw new DebianError('RELEASE_INVALID', `${what}: malformed SHA256 line ${JSON.stringify(line.trim())}`);
      }
      files.set(path!, { path: path!, size: Number(size), sha256: hex!.toLowerCase() });
    }
  }
  const date = p.get('Date');
  const validUntil = p.get('Valid-Until');
  return {
    origin: p.get('Origin'),
    label: p.get('Label'),
    suite: p.get('Suite'),
    codename: p.get('Codename'),
    version: p.get('Version'),
    date: date ? parseReleaseDate(date, `${what}: Date`) : undefined,
    validUntil: validUntil ? parseReleaseDate(validUntil, `${what}: Valid-Until`) : undefined,
    architectures: splitWords(p.get('Architectures')),
    components: splitWords(p.get('Components')),
    acquireByHash: (p.get('Acquire-By-Hash') ?? '').toLowerCase() === 'yes',
    allInArchIndexes: splitWords(p.get('No-Support-for-Architecture-all')).includes('Packages'),
    files,
  };
}

/** A verified Release text and who signed it. */
export interface VerifiedRelease {
  /** The signed text (dash-escaping removed), the only text to parse. */
  readonly text: string;
  /** Primary fingerprints of the keyring keys with a good signature (empty for trusted=yes sources). */
  readonly signers: readonly string[];
}

async function goodSigners(signatures: Array<{ keyID: { toHex(): string }; verified: Promise<unknown> }>, keys: readonly Key[]): Promise<string[]> {
  const out: string[] = [];
  for (const sig of signatures) {
    try {
      await sig.verified;
    } catch {
      continue; // unknown key or bad signature: ignored as long as one good signature remains (spec §2.2)
    }
    const id = sig.keyID.toHex().toLowerCase();
    const key = keys.find((k) => k.getKeyIDs().some((kid) => kid.toHex().toLowerCase() === id));
    out.push((key?.getFingerprint() ?? id).toUpperCase());
  }
  return [...new Set(out)].sort();
}

/** Options of the verify functions. */
export interface VerifyReleaseOptions {
  /** Names the file in errors, e.g. "http://deb.debian.org/debian/dists/bookworm/InRelease". */
  what: string;
  /** Verification time (key validity). */
  now: Date;
}

const BEGIN_SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';

/**
 * Verifies a cleartext-signed InRelease: at least one signature must verify against a key of the
 * keyring; signatures by unknown keys are ignored. Text outside the signed block is refused
 * (apt does the same), so nothing unsigned can ride along.
 */
export async function verifyInRelease(data: Uint8Array, keyring: Keyring, options: VerifyReleaseOptions): Promise<VerifiedRelease> {
  const armored = Buffer.from(data).toString('utf8');
  const trimmed = armored.trim();
  if (!trimmed.startsWith(BEGIN_SIGNED) || !trimmed.endsWith(END_SIGNATURE) || trimmed.indexOf(BEGIN_SIGNED, 1) >= 0) {
    throw new DebianError('SIGNATURE_INVALID', `${options.what}: not a single OpenPGP cleartext-signed message`);
  }
  const { readCleartextMessage, verify } = await import('openpgp');
  let message;
  try {
    message = await readCleartextMessage({ cleartextMessage: armored });
  } catch (err) {
    throw new DebianError('SIGNATURE_INVALID', `${options.what}: cannot parse the signed message: ${(err as Error).message}`, { cause: err });
  }
  let result;
  try {
    result = await verify({ message, verificationKeys: [...keyring.keys], date: options.now });
  } catch (err) {
    throw new DebianError('SIGNATURE_INVALID', `${options.what}: ${(err as Error).message}`, { cause: err });
  }
  const signers = await goodSigners(result.signatures, keyring.keys);
  if (signers.length === 0) throw noGoodSignature(options.what, keyring);
  return { text: message.getText(), signers };
}

/** Verifies Release against a detached Release.gpg (armored or binary), same key rules. */
export async function verifyDetachedRelease(release: Uint8Array, signature: Uint8Array, keyring: Keyring, options: VerifyReleaseOptions): Promise<VerifiedRelease> {
  const { createMessage, readSignature, verify } = await import('openpgp');
  let result;
  try {
    const sigText = Buffer.from(signature.subarray(0, 40)).toString('latin1');
    const sig = sigText.startsWith('-----BEGIN PGP')
      ? await readSignature({ armoredSignature: Buffer.from(signature).toString('utf8') })
      : await readSignature({ binarySignature: signature });
    const message = await createMessage({ binary: release });
    result = await verify({ message, signature: sig, verificationKeys: [...keyring.keys], date: options.now });
  } catch (err) {
    throw new DebianError('SIGNATURE_INVALID', `${options.what}: ${(err as Error).message}`, { cause: err });
  }
  const signers = await goodSigners(result.signatures, keyring.keys);
  if (signers.length === 0) throw noGoodSignature(options.what, keyring);
  return { text: Buffer.from(release).toString('utf8'), signers };
}

function noGoodSignature(what: string, keyring: Keyring): DebianError {
  return new DebianError('SIGNATURE_INVALID', `${what}: no valid signature by a key of ${keyring.origins.join(', ')} (file altered, or signed by another key)`, {
    hint: 'check the Signed-By keyring of this source; never disable the check for an archive you do not control',
  });
}

/** What a source expects of its Release (spec §2.3 steps 3-4). */
export interface ReleaseExpectations {
  /** The distribution as configured; must equal Codename or Suite. */
  suite: string;
  components: readonly string[];
  architectures: readonly string[];
  checkValidUntil: boolean;
  checkDate: boolean;
  now: Date;
  /** Names the file in errors. */
  what: string;
}

/**
 * Checks freshness and identity: Valid-Until not passed (unless turned off for snapshots), Date
 * not in the future, Codename or Suite equal to the configured distribution, and the wanted
 * components listed. Architectures not listed are returned (the caller skips or fails them).
 */
export function checkRelease(release: Release, want: ReleaseExpectations): { missingArchitectures: string[] } {
  const { what, now } = want;
  if (want.checkValidUntil && release.validUntil && release.validUntil.getTime() < now.getTime()) {
    throw new DebianError('RELEASE_EXPIRED', `${what}: expired: Valid-Until ${release.validUntil.toISOString()} is before now (${now.toISOString()})`, {
      hint: 'a mirror that stopped updating, or a replayed old Release; for snapshot archives set check-valid-until=no on the source',
    });
  }
  // apt allows some clock skew for Date (Acquire::Max-FutureTime); 10 minutes is generous enough.
  if (want.checkDate && release.date && release.date.getTime() > now.getTime() + 10 * 60_000) {
    throw new DebianError('RELEASE_EXPIRED', `${what}: Date ${release.date.toISOString()} is in the future (now ${now.toISOString()})`, {
      hint: 'check the clock of this machine, or set check-date=no on the source',
    });
  }
  const names = [release.codename, release.suite].filter((n): n is string => !!n);
  if (names.length && !names.includes(want.suite)) {
    throw new DebianError('RELEASE_INVALID', `${what}: is for ${names.join('/')}, not ${want.suite} as configured`, {
      hint: 'a mirror serving the wrong distribution, or a typo in the sources file',
    });
  }
  if (release.components.length) {
    const listed = new Set(release.components.flatMap((c) => [c, c.replace(/^.*\//, '')]));
    const missing = want.components.filter((c) => !listed.has(c));
    if (missing.length) {
      throw new DebianError('RELEASE_INVALID', `${what}: component ${missing.join(', ')} not in Components (${release.components.join(' ')})`);
    }
  }
  const archs = new Set(release.architectures);
  return { missingArchitectures: release.architectures.length ? want.architectures.filter((a) => !archs.has(a)) : [] };
}
