// Loading apt sources into verified package lists (spec debian.md §2.3): InRelease (or Release +
// Release.gpg) checked against the source's keyring, Release fields checked, each Packages index
// fetched (by-hash when offered), verified compressed and uncompressed, cached by content hash.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Key } from 'openpgp';
import { atomicWriteFile, describeError, mapLimit, redactUrl } from '../core/index.js';
import { compressionFromName, type Compression } from './decompress.js';
import { DebianError } from './errors.js';
import { fetchIndexToCache, fetchRevalidated, FetchFailure, type Transport } from './http.js';
import { loadPackagesIndex } from './index-cache.js';
import { keyringIdentity, loadKeyring } from './keyring.js';
import type { PackagesIndex } from './packages.js';
import { checkRelease, parseRelease, verifyDetachedRelease, verifyInRelease, type Release, type ReleaseFileEntry } from './release.js';
import { sourceName, stripCredentials, type AptSource } from './sources.js';
import type { UniverseInput } from './universe.js';

/** One verified Packages index. */
export interface LoadedIndex {
  readonly component: string;
  /** `amd64`, ... or `all` (binary-all). */
  readonly architecture: string;
  /** Path of the uncompressed index relative to dists/<suite>/, e.g. `main/binary-amd64/Packages`. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** The file downloaded for it (compressed variant), as listed in the Release. */
  readonly fetched: ReleaseFileEntry;
  readonly packages: PackagesIndex;
}

/** A source whose Release was verified and whose indexes were loaded. */
export interface LoadedSource {
  readonly source: AptSource;
  /** "<uri> <suite>" without credentials. */
  readonly name: string;
  /** Position in the configured sources (tie-break order). */
  readonly index: number;
  readonly release: Release;
  /** `InRelease`, or `Release` when the detached form was used. */
  readonly releasePath: 'InRelease' | 'Release';
  /** SHA256 (hex) of the InRelease (or Release) file as fetched. */
  readonly releaseSha256: string;
  /** Fingerprints of the keys with a good signature (empty for trusted=yes sources). */
  readonly signers: readonly string[];
  readonly indexes: readonly LoadedIndex[];
}

/** Sources loaded for a set of architectures, and those skipped because they could not be reached. */
export interface LoadedSources {
  readonly architectures: readonly string[];
  readonly sources: readonly LoadedSource[];
  /** Sources left out, with the reason (network failures only; anything else is fatal). */
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
}

/** Options of loadAptSources. */
export interface LoadAptSourcesOptions {
  readonly sources: readonly AptSource[];
  readonly architectures: readonly string[];
  readonly transport: Transport;
  /**
   * A source whose InRelease cannot be fetched for network reasons (DNS, refused, timeout, 5xx) is
   * skipped with a warning like apt's "W: Failed to fetch" ('skip', default) or is fatal ('fail').
   * A bad signature, an expired Release or a hash mismatch is always fatal.
   */
  readonly onUnreachable?: 'skip' | 'fail';
  /** Root for apt's default trusted keyrings when a source has no Signed-By (default "/"). */
  readonly root?: string;
  /** Parallel index downloads (default 4). */
  readonly concurrency?: number;
}

// Preference order of index compressions (spec §2.5; zstd after gzip, as apt does).
const COMPRESSIONS: readonly Compression[] = ['xz', 'gz', 'zst', 'bz2', 'lzma', 'none'];

function byHashUrl(base: string, entry: ReleaseFileEntry): string {
  const dir = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/') + 1) : '';
  return `${base}${dir}by-hash/SHA256/${entry.sha256}`;
}

interface IndexPlan {
  component: string;
  architecture: string;
  path: string;
  uncompressed: ReleaseFileEntry;
  variant: ReleaseFileEntry;
  compression: Compression;
}

/** Which Packages files a source needs for the architectures (binary-all only when the Release does not say all packages are in the per-arch indexes). */
function planIndexes(src: AptSource, release: Release, architectures: readonly string[], what: string): IndexPlan[] {
  const plans: IndexPlan[] = [];
  const archs = architectures.filter((a) => (!src.architectures || src.architectures.includes(a)) && !src.excludeArchitectures?.includes(a));
  const listed = new Set(release.architectures);
  const wanted = archs.filter((a) => listed.size === 0 || listed.has(a));
  if (wanted.length && listed.has('all') && !release.allInArchIndexes) wanted.push('all');
  for (const component of src.components) {
    for (const arch of wanted) {
      const path = `${component}/binary-${arch}/Packages`;
      const uncompressed = release.files.get(path);
      const variants = COMPRESSIONS.map((c) => release.files.get(c === 'none' ? path : `${path}.${c}`)).filter((e): e is ReleaseFileEntry => !!e);
      if (!variants.length) {
        if (arch === 'all') continue; // binary-all is optional
        throw new DebianError('INDEX_MISSING', `${what}: no ${path} (or a compressed variant) listed in the Release`, {
          hint: 'is the component spelled right, and does the archive publish this architecture?',
        });
      }
      if (!uncompressed) {
        throw new DebianError('RELEASE_INVALID', `${what}: lists ${variants[0]!.path} but no checksum for the uncompressed ${path} (required by the repository format)`);
      }
      const variant = variants[0]!;
      plans.push({ component, architecture: arch, path, uncompressed, variant, compression: compressionFromName(variant.path) });
    }
  }
  return plans;
}

async function fetchRelease(t: Transport, base: string, what: string): Promise<{ path: 'InRelease' | 'Release'; data: Buffer; sha256: string; signature?: Buffer }> {
  const inRelease = await fetchRevalidated(t, `${base}InRelease`, `${what}/InRelease`);
  if (inRelease) return { path: 'InRelease', data: inRelease.data, sha256: inRelease.sha256 };
  const release = await fetchRevalidated(t, `${base}Release`, `${what}/Release`);
  if (!release) throw new DebianError('RELEASE_INVALID', `${what}: neither InRelease nor Release exists (HTTP 404)`, { hint: 'check the URI and suite of this source' });
  const sig = await fetchRevalidated(t, `${base}Release.gpg`, `${what}/Release.gpg`);
  return { path: 'Release', data: release.data, sha256: release.sha256, signature: sig?.data };
}

async function loadOne(src: AptSource, index: number, options: LoadAptSourcesOptions, keyMemo: Map<string, Promise<Key[]>>): Promise<LoadedSource> {
  const t = options.transport;
  const base = `${src.uri}dists/${src.suite}/`;
  const what = `${redactUrl(stripCredentials(base)).replace(/\/$/, '')}`;
  const name = sourceName(src);
  const now = t.clock.now();
  const fetched = await fetchRelease(t, base, what);
  const fileWhat = `${what}/${fetched.path}`;
  let verified: { text: string; signers: readonly string[] };
  if (src.trusted) {
    // trusted=yes: no signature required (recorded in the lock); InRelease still yields its text.
    verified = fetched.path === 'InRelease' ? { text: stripClearsign(fetched.data.toString('utf8')), signers: [] } : { text: fetched.data.toString('utf8'), signers: [] };
  } else {
    verified = await verifiedRelease(t, src, fetched, fileWhat, now, options.root, keyMemo);
  }
  const release = parseRelease(verified.text, fileWhat);
  checkRelease(release, {
    suite: src.suite,
    components: src.components,
    architectures: options.architectures,
    checkValidUntil: src.checkValidUntil,
    checkDate: src.checkDate,
    now,
    what: fileWhat,
  });
  const plans = planIndexes(src, release, options.architectures, fileWhat);
  const useByHash = src.byHash ?? release.acquireByHash;
  const indexes = await mapLimit(plans, options.concurrency ?? 4, async (plan): Promise<LoadedIndex> => {
    const named = `${base}${plan.variant.path}`;
    const urls = useByHash ? [byHashUrl(base, plan.variant), named] : [named];
    const blob = await fetchIndexToCache(
      t,
      urls,
      { sha256: plan.variant.sha256, size: plan.variant.size, what: `${what}/${plan.variant.path}` },
      plan.compression,
      { sha256: plan.uncompressed.sha256, size: plan.uncompressed.size, what: `${what}/${plan.path}` },
    );
    const packages = await parsedIndex(t, blob, plan.uncompressed, `${what}/${plan.path}`);
    return { component: plan.component, architecture: plan.architecture, path: plan.path, sha256: plan.uncompressed.sha256, size: plan.uncompressed.size, fetched: plan.variant, packages };
  });
  return { source: src, name, index, release, releasePath: fetched.path, releaseSha256: fetched.sha256, signers: verified.signers, indexes };
}

/** A verification is reused for a day: long enough for every resolve of a day, short enough for key expiry to matter. */
const VERIFIED_TTL_MS = 24 * 3600_000;

/**
 * Verifies the fetched Release (or reuses the verification of the same bytes against the same
 * keyring from the cache, which spares the OpenPGP work on warm runs).
 */
async function verifiedRelease(
  t: Transport,
  src: AptSource,
  fetched: { path: 'InRelease' | 'Release'; data: Buffer; sha256: string; signature?: Buffer },
  fileWhat: string,
  now: Date,
  root: string | undefined,
  keyMemo: Map<string, Promise<Key[]>>,
): Promise<{ text: string; signers: readonly string[] }> {
  const sigSha = fetched.signature ? createHash('sha256').update(fetched.signature).digest('hex').slice(0, 16) : '';
  const releaseKey = sigSha ? `${fetched.sha256}.${sigSha}` : fetched.sha256;
  const keyId = await keyringIdentity(src.signedBy, root, t.signal);
  const rec = await t.cache.readVerified(releaseKey, keyId);
  if (rec && now.getTime() - Date.parse(rec.verifiedAt) < VERIFIED_TTL_MS && now.getTime() >= Date.parse(rec.verifiedAt)) {
    const text = await readFile(t.cache.blobPath(rec.textSha256), 'utf8').catch(() => undefined);
    if (text !== undefined && createHash('sha256').update(text).digest('hex') === rec.textSha256) return { text, signers: rec.signers };
  }
  const keyring = await loadKeyring(src.signedBy, { root, memo: keyMemo, signal: t.signal });
  let verified: { text: string; signers: readonly string[] };
  if (fetched.path === 'InRelease') verified = await verifyInRelease(fetched.data, keyring, { what: fileWhat, now });
  else {
    if (!fetched.signature) throw new DebianError('SIGNATURE_INVALID', `${fileWhat.replace(/Release$/, 'Release.gpg')}: missing (the Release is unsigned)`);
    verified = await verifyDetachedRelease(fetched.data, fetched.signature, keyring, { what: fileWhat, now });
  }
  const textSha256 = createHash('sha256').update(verified.text).digest('hex');
  if (!(await t.cache.has(textSha256))) await atomicWriteFile(t.cache.blobPath(textSha256), verified.text, { signal: t.signal });
  await t.cache.writeVerified(releaseKey, keyId, { textSha256, signers: [...verified.signers], verifiedAt: now.toISOString() }, t.signal);
  return verified;
}

/** Parsed indexes are shared within a process (the same Packages for several images or suites). */
const parsedMemo = new WeakMap<Transport, Map<string, Promise<PackagesIndex>>>();

/** The index of a verified blob, through the persistent scan cache (index-cache.ts). */
async function parsedIndex(t: Transport, blob: string, expected: { sha256: string; size: number }, what: string): Promise<PackagesIndex> {
  let memo = parsedMemo.get(t);
  if (!memo) {
    memo = new Map();
    parsedMemo.set(t, memo);
  }
  let p = memo.get(expected.sha256);
  if (!p) {
    p = loadPackagesIndex({ cache: t.cache, indexPath: blob, sha256: expected.sha256, size: expected.size, what, logger: t.logger, signal: t.signal }).then((r) => {
      t.logger.debug(`${what}: ${r.from === 'cache' ? 'scan from the cache' : 'scanned'} (${r.index.size} stanzas)`);
      return r.index;
    });
    memo.set(expected.sha256, p);
    p.catch(() => memo.delete(expected.sha256));
  }
  return p;
}

/** The text between the cleartext header and the signature, for trusted=yes sources (no verification). */
function stripClearsign(armored: string): string {
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\r?\n(?:[^\n]*\S[^\n]*\r?\n)*\r?\n([\s\S]*?)\r?\n-----BEGIN PGP SIGNATURE-----/.exec(armored);
  if (!m) return armored;
  return m[1]!.replace(/^- /gm, '');
}

/**
 * Loads and verifies every source for the architectures. Sources that cannot be reached are
 * skipped (with a warning through the transport's logger) unless `onUnreachable: 'fail'`; if none
 * is left, that is an error. Everything else that goes wrong is fatal and names the file.
 */
export async function loadAptSources(options: LoadAptSourcesOptions): Promise<LoadedSources> {
  const t = options.transport;
  const keyMemo = new Map<string, Promise<Key[]>>();
  const results = await Promise.allSettled(options.sources.map((src, i) => loadOne(src, i, options, keyMemo)));
  const sources: LoadedSource[] = [];
  const skipped: Array<{ name: string; reason: string }> = [];
  let firstFatal: unknown;
  results.forEach((r, i) => {
    const src = options.sources[i]!;
    if (r.status === 'fulfilled') sources.push(r.value);
    else if (r.reason instanceof FetchFailure && r.reason.network && options.onUnreachable !== 'fail' && !t.signal?.aborted) {
      const reason = describeError(r.reason);
      t.logger.warn(`W: Failed to fetch ${sourceName(src)}: ${reason} (source skipped)`);
      skipped.push({ name: sourceName(src), reason });
    } else firstFatal ??= r.reason;
  });
  if (firstFatal !== undefined) throw firstFatal;
  if (sources.length === 0) {
    throw new DebianError('FETCH_FAILED', `no apt source could be reached: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`, {
      hint: 'check the network or use --offline with a filled cache',
    });
  }
  for (const arch of options.architectures) {
    if (!sources.some((s) => s.indexes.some((ix) => ix.architecture === arch))) {
      throw new DebianError('INDEX_MISSING', `no configured source publishes packages for ${arch} (sources: ${sources.map((s) => s.name).join(', ')})`);
    }
  }
  return { architectures: [...options.architectures], sources, skipped };
}

/** The universe inputs for one architecture: its own indexes and binary-all, in source order. */
export function universeInputs(loaded: LoadedSources, architecture: string): UniverseInput[] {
  const out: UniverseInput[] = [];
  for (const s of loaded.sources) {
    for (const ix of s.indexes) {
      if (ix.architecture !== architecture && ix.architecture !== 'all') continue;
      out.push({
        origin: { sourceIndex: s.index, uri: stripCredentials(s.source.uri), suite: s.source.suite, codename: s.release.codename, component: ix.component },
        packages: ix.packages,
      });
    }
  }
  return out;
}
