// lading.lock: the family lock (JSON, versioned, stable order). Per architecture it holds the
// Debian lock for the packages any image uses (the sources with their InRelease digests, and
// every package with its version, source, file, size and SHA256), and per image the request it
// was resolved from and the exact set it installs. Schema generated into schemas/lading-lock.schema.json.
import { z } from 'zod';

/** Version of the lock format; bump on any incompatible change. */
export const LOCK_VERSION = 1;

const Sha256Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, { error: 'expected sha256:<64 hex>' });
const Hex64 = z.string().regex(/^[a-f0-9]{64}$/, { error: 'expected 64 lower-case hex digits' });

/**
 * One apt source as it was when locked.
 * NOTE: mirrors the fields issue #4 gives the Debian lockfile; switch to the debian module's
 * exported lock types once they exist (src/debian is being written alongside).
 */
export const LockedSourceSchema = z.strictObject({
  uri: z.string().describe('Archive root, credentials removed.'),
  suite: z.string(),
  codename: z.string().optional(),
  components: z.array(z.string()),
  date: z.string().optional().describe('Date: of the Release, RFC 3339.'),
  inRelease: Sha256Digest.describe('Digest of the InRelease (or Release) file that was verified.'),
  signers: z.array(z.string()).optional().describe('Fingerprints of the keys whose signature verified.'),
});

/** One locked binary package. */
export const LockedPackageSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  architecture: z.string().describe('amd64, arm64, ..., or all.'),
  source: z.string().optional(),
  sourceVersion: z.string().optional(),
  filename: z.string().describe('Path below the archive root (pool/...).'),
  size: z.number().int().min(0),
  sha256: Hex64,
  suite: z.string().describe('Suite the package was taken from.'),
  essential: z.boolean().optional(),
});

/** What one image asked for on one architecture (its own packages plus its ancestors'). */
export const ImageRequestSchema = z.strictObject({
  essential: z.boolean().describe('The Essential set was added.'),
  packages: z.array(z.string()).describe('Requested names, sorted.'),
  base: z.string().optional().describe('External base reference (its packages are not locked).'),
});

/** The lock of one image on one architecture. */
export const ImageLockSchema = z.strictObject({
  request: ImageRequestSchema,
  packages: z.record(z.string(), z.string()).describe('Every package the image installs: name -> version (the details are in the architecture\'s debian.packages).'),
});

/** Everything locked for one architecture. */
export const ArchLockSchema = z.strictObject({
  debian: z.strictObject({
    sources: z.array(LockedSourceSchema),
    packages: z.array(LockedPackageSchema).describe('Union of the packages of every image, sorted by name then version.'),
  }),
  images: z.record(z.string(), ImageLockSchema),
});

/** lading.lock. */
export const FamilyLockSchema = z
  .strictObject({
    lockVersion: z.literal(LOCK_VERSION),
    family: z.string().describe('project.name of the family.'),
    configDigest: Sha256Digest.describe('Digest of the lock-relevant part of the config (sources, suites, architectures, package requests): a different value means the lock is stale.'),
    architectures: z.record(z.string(), ArchLockSchema),
  })
  .meta({ title: 'lading.lock', description: 'The family lock written by `lading lock`. Reference: docs/config.md "The lock file".' });

/** lading.lock, parsed. */
export type FamilyLock = z.infer<typeof FamilyLockSchema>;
/** Everything locked for one architecture. */
export type ArchLock = z.infer<typeof ArchLockSchema>;
/** The lock of one image on one architecture. */
export type ImageLock = z.infer<typeof ImageLockSchema>;
/** What one image asked for on one architecture. */
export type ImageRequest = z.infer<typeof ImageRequestSchema>;
/** One locked binary package. */
export type LockedPackage = z.infer<typeof LockedPackageSchema>;
/** One apt source as locked. */
export type LockedSource = z.infer<typeof LockedSourceSchema>;
