// The apt lock: per architecture every resolved package with the exact file to fetch and its
// SHA256, plus the verified sources it came from (spec debian.md §6 "[lading] resolver output").
// JSON, versioned, keys sorted (prettyJson), packages sorted by name: the same resolution always
// gives the same bytes. Format reference: docs/apt.md; JSON Schema: schemas/debian/apt-lock.schema.json.
import { z } from 'zod';
import { canonicalJson, digestOf, parseJson, prettyJson } from '../core/index.js';
import { DebianError } from './errors.js';
import type { LoadedSources } from './repository.js';
import type { ArchResolution } from './resolver.js';
import { stripCredentials, type AptSource } from './sources.js';

/** Version of the apt lock format; bump on any incompatible change. */
export const APT_LOCK_VERSION = 1;

const Hex64 = z.string().regex(/^[a-f0-9]{64}$/, { error: 'expected 64 lower-case hex digits' });
const Sha256Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, { error: 'expected sha256:<64 hex>' });
const Fingerprint = z.string().regex(/^[A-F0-9]{16,64}$/, { error: 'expected an upper-case hex key fingerprint' });

/** One locked binary package: everything needed to fetch and verify it without the indexes. */
export const LockedAptPackageSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  architecture: z.string().describe('The package architecture: amd64, arm64, ..., or all.'),
  source: z.string().describe('Source package name.'),
  sourceVersion: z.string().describe('Source package version.'),
  filename: z
    .string()
    .refine((f) => !f.startsWith('/') && f.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), {
      error: 'expected a relative path below the archive root, without empty, "." or ".." parts (pool/...)',
    })
    .describe('Path below the archive root (pool/...).'),
  size: z.number().int().min(0),
  sha256: Hex64,
  uri: z.string().describe('Archive root the file is fetched from (credentials removed); URL = uri + filename.'),
  suite: z.string().describe('Distribution it was taken from, as configured (bookworm, bookworm-security, ...).'),
  codename: z.string().optional(),
  component: z.string(),
  essential: z.boolean(),
  priority: z.string().optional(),
  multiArch: z.string().optional(),
  section: z.string().optional(),
  installedSize: z.number().int().min(0).optional().describe('Installed-Size in KiB.'),
  reason: z.enum(['requested', 'essential', 'dependency']),
  requiredBy: z.string().optional().describe('The package whose dependency pulled this one in.'),
  depends: z.array(z.string()).describe('Locked packages satisfying its Pre-Depends and Depends, sorted.'),
});

/** One verified Packages index of a source. */
export const LockedIndexSchema = z.strictObject({
  path: z.string().describe('Uncompressed index path below dists/<suite>/.'),
  component: z.string(),
  architecture: z.string(),
  sha256: Hex64.describe('SHA256 of the uncompressed index.'),
  size: z.number().int().min(0),
  fetched: z.strictObject({ path: z.string(), sha256: Hex64, size: z.number().int().min(0) }).describe('The (compressed) file downloaded for it.'),
});

/** One apt source as it was when locked. */
export const LockedAptSourceSchema = z.strictObject({
  name: z.string().describe('"<uri> <suite>".'),
  uri: z.string().describe('Archive root, credentials removed.'),
  suite: z.string(),
  codename: z.string().optional(),
  origin: z.string().optional(),
  label: z.string().optional(),
  version: z.string().optional(),
  components: z.array(z.string()),
  releaseFile: z.enum(['InRelease', 'Release']),
  inRelease: Sha256Digest.describe('Digest of the InRelease (or Release) file that was verified.'),
  date: z.string().optional().describe('Date of the Release, RFC 3339.'),
  validUntil: z.string().optional().describe('Valid-Until of the Release, RFC 3339.'),
  signers: z.array(Fingerprint).describe('Fingerprints of the keys whose signature verified (empty when trusted).'),
  trusted: z.boolean().describe('trusted=yes: the signature was not required.'),
  checkValidUntil: z.boolean().describe('false for snapshot archives (check-valid-until=no).'),
  indexes: z.array(LockedIndexSchema),
});

/** The request a lock was resolved from; its checksum tells whether a lock is stale. */
export const AptRequestSchema = z.strictObject({
  packages: z.array(z.string()).describe('Requested packages as written.'),
  architectures: z.array(z.string()),
  noEssential: z.boolean(),
  sources: z
    .array(
      z.strictObject({
        uri: z.string(),
        suite: z.string(),
        components: z.array(z.string()),
        architectures: z.array(z.string()).optional(),
        excludeArchitectures: z.array(z.string()).optional().describe('`arch-=` / `Architectures-Remove:`.'),
        trusted: z.boolean(),
        checkValidUntil: z.boolean(),
        checkDate: z.boolean(),
        keyrings: z.array(z.string()).optional(),
        fingerprints: z.array(z.string()).optional(),
        inlineKey: Sha256Digest.optional(),
      }),
    )
    .describe('The sources as configured (credentials removed).'),
});

/** The apt lock file. */
export const AptLockSchema = z
  .strictObject({
    lockVersion: z.literal(APT_LOCK_VERSION),
    requestChecksum: Sha256Digest.describe('sha256 of the canonical JSON of `request`.'),
    request: AptRequestSchema,
    sources: z.array(LockedAptSourceSchema).describe('Sources used, in configuration order.'),
    skippedSources: z.array(z.strictObject({ name: z.string(), reason: z.string() })).optional().describe('Sources left out because they could not be reached.'),
    architectures: z.record(z.string(), z.strictObject({ packages: z.array(LockedAptPackageSchema).describe('Sorted by name.') })),
  })
  .meta({ title: 'lading apt lock', description: 'Written by `lading apt resolve --lock-out`; read by `lading apt fetch --lock`. Reference: docs/apt.md.' });

/** The apt lock, parsed. */
export type AptLock = z.infer<typeof AptLockSchema>;
/** One locked package. */
export type LockedAptPackage = z.infer<typeof LockedAptPackageSchema>;
/** One locked source. */
export type LockedAptSource = z.infer<typeof LockedAptSourceSchema>;
/** One locked index. */
export type LockedIndex = z.infer<typeof LockedIndexSchema>;
/** The request record of a lock. */
export type AptRequest = z.infer<typeof AptRequestSchema>;

/** The request record for a resolution: what was asked, of which sources (credentials removed). */
export function aptRequest(options: { packages: readonly string[]; architectures: readonly string[]; noEssential?: boolean; sources: readonly AptSource[] }): AptRequest {
  return {
    packages: [...options.packages],
    architectures: [...options.architectures],
    noEssential: options.noEssential === true,
    sources: options.sources.map((s) => {
      const r: AptRequest['sources'][number] = {
        uri: stripCredentials(s.uri),
        suite: s.suite,
        components: [...s.components],
        trusted: s.trusted,
        checkValidUntil: s.checkValidUntil,
        checkDate: s.checkDate,
      };
      if (s.architectures) r.architectures = [...s.architectures];
      if (s.excludeArchitectures?.length) r.excludeArchitectures = [...s.excludeArchitectures];
      if (s.signedBy?.keyrings.length) r.keyrings = [...s.signedBy.keyrings];
      if (s.signedBy?.fingerprints.length) r.fingerprints = [...s.signedBy.fingerprints];
      if (s.signedBy?.inline) r.inlineKey = digestOf(s.signedBy.inline);
      return r;
    }),
  };
}

/** sha256 of the canonical JSON of a request: equal checksums mean the same question was asked. */
export function requestChecksum(request: AptRequest): string {
  return digestOf(canonicalJson(request));
}

/** What toLock needs: the request, the verified sources and the per-architecture results. */
export interface LockInput {
  readonly request: AptRequest;
  readonly loaded: LoadedSources;
  readonly architectures: readonly ArchResolution[];
}

const iso = (d: Date | undefined) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined);

/** Builds the lock of a resolution (pure). Only sources that contributed indexes are listed. */
export function toLock(input: LockInput): AptLock {
  const sources = input.loaded.sources.map((s) => {
    const src: LockedAptSource = {
      name: s.name,
      uri: stripCredentials(s.source.uri),
      suite: s.source.suite,
      components: [...s.source.components],
      releaseFile: s.releasePath,
      inRelease: `sha256:${s.releaseSha256}`,
      signers: [...s.signers],
      trusted: s.source.trusted,
      checkValidUntil: s.source.checkValidUntil,
      indexes: s.indexes
        .map((ix) => ({ path: ix.path, component: ix.component, architecture: ix.architecture, sha256: ix.sha256, size: ix.size, fetched: { path: ix.fetched.path, sha256: ix.fetched.sha256, size: ix.fetched.size } }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    };
    if (s.release.codename) src.codename = s.release.codename;
    if (s.release.origin) src.origin = s.release.origin;
    if (s.release.label) src.label = s.release.label;
    if (s.release.version) src.version = s.release.version;
    if (s.release.date) src.date = iso(s.release.date);
    if (s.release.validUntil) src.validUntil = iso(s.release.validUntil);
    return src;
  });
  const architectures: AptLock['architectures'] = {};
  for (const arch of input.architectures) {
    architectures[arch.architecture] = {
      packages: arch.packages.map((sel) => {
        const c = sel.candidate;
        const p: LockedAptPackage = {
          name: c.name,
          version: c.version,
          architecture: c.architecture,
          source: c.source,
          sourceVersion: c.sourceVersion,
          filename: c.filename,
          size: c.size,
          sha256: c.sha256,
          uri: c.origin.uri,
          suite: c.origin.suite,
          component: c.origin.component,
          essential: c.essential,
          reason: sel.reason,
          depends: [...sel.depends],
        };
        if (c.origin.codename) p.codename = c.origin.codename;
        if (c.priority) p.priority = c.priority;
        if (c.multiArch) p.multiArch = c.multiArch;
        if (c.section) p.section = c.section;
        if (c.installedSize !== undefined && Number.isSafeInteger(c.installedSize)) p.installedSize = c.installedSize;
        if (sel.requiredBy) p.requiredBy = sel.requiredBy;
        return p;
      }),
    };
  }
  const lock: AptLock = {
    lockVersion: APT_LOCK_VERSION,
    requestChecksum: requestChecksum(input.request),
    request: input.request,
    sources,
    architectures,
  };
  if (input.loaded.skipped.length) lock.skippedSources = input.loaded.skipped.map((s) => ({ name: s.name, reason: s.reason }));
  return lock;
}

/** The lock as file text: pretty JSON with sorted keys and a final newline (stable bytes). */
export function serializeLock(lock: AptLock): string {
  return prettyJson(lock);
}

/**
 * Parses and validates a lock file. Problems fail with DebianError('LOCK_INVALID') naming the file
 * and every bad field path; a checksum that does not match its request is refused too.
 */
export function parseLock(data: Uint8Array | string, what = 'apt lock'): AptLock {
  let raw: unknown;
  try {
    raw = parseJson(data, what);
  } catch (err) {
    throw new DebianError('LOCK_INVALID', (err as Error).message, { cause: err });
  }
  if (raw && typeof raw === 'object' && 'lockVersion' in raw && (raw as { lockVersion: unknown }).lockVersion !== APT_LOCK_VERSION) {
    throw new DebianError('LOCK_INVALID', `${what}: lockVersion ${JSON.stringify((raw as { lockVersion: unknown }).lockVersion)} is not supported (this lading reads ${APT_LOCK_VERSION})`);
  }
  const r = AptLockSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new DebianError('LOCK_INVALID', `${what}: ${problems.join('; ')}${r.error.issues.length > 10 ? `; and ${r.error.issues.length - 10} more` : ''}`);
  }
  if (requestChecksum(r.data.request) !== r.data.requestChecksum) {
    throw new DebianError('LOCK_INVALID', `${what}: requestChecksum does not match the request (edited by hand?)`);
  }
  return r.data;
}

/**
 * The JSON Schema of the lock as file text (draft 2020-12, generated from the zod schema that also
 * validates locks); committed as schemas/debian/apt-lock.schema.json and checked by a test.
 */
export function aptLockJsonSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(AptLockSchema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }), null, 2)}\n`;
}
