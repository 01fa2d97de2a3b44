// lading.lock: the family lock (JSON, versioned, stable order). It reuses the debian module's
// lock model (LockedAptSource, LockedAptPackage): the sources with their InRelease digests once,
// per architecture every package any image installs (version, source, file, size, SHA256), and
// per image the request it was resolved from and the exact set it installs.
// Schema generated into schemas/lading-lock.schema.json.
import { z } from 'zod';
import { LockedAptPackageSchema, LockedAptSourceSchema } from '../../debian/index.js';

/** Version of the lock format; bump on any incompatible change. */
export const LOCK_VERSION = 1;

const Sha256Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, { error: 'expected sha256:<64 hex>' });

/** What one image asked for on one architecture (its own packages plus its ancestors'). */
export const ImageRequestSchema = z.strictObject({
  essential: z.boolean().describe('The Essential set was added.'),
  packages: z.array(z.string()).describe('Requested names, sorted.'),
  base: z.string().optional().describe('External base reference (its packages are not locked).'),
});

/** The lock of one image on one architecture. */
export const ImageLockSchema = z.strictObject({
  request: ImageRequestSchema,
  packages: z.record(z.string(), z.string()).describe('Every package the image installs: name -> version (the details are in the architecture\'s packages).'),
});

/** Everything locked for one architecture. */
export const ArchLockSchema = z.strictObject({
  packages: z
    .array(LockedAptPackageSchema)
    .describe('Every package an image installs on this architecture, once, sorted by name. reason, requiredBy and depends are those of the first image (in build order) that installs it.'),
  images: z.record(z.string(), ImageLockSchema),
});

/** lading.lock. */
export const FamilyLockSchema = z
  .strictObject({
    lockVersion: z.literal(LOCK_VERSION),
    family: z.string().describe('project.name of the family.'),
    configDigest: Sha256Digest.describe('Digest of the lock-relevant part of the config (sources, suites, architectures, package requests): a different value means the lock is stale.'),
    sources: z.array(LockedAptSourceSchema).describe('The verified sources the packages were resolved from, in configuration order.'),
    skippedSources: z.array(z.strictObject({ name: z.string(), reason: z.string() })).optional().describe('Sources left out because they could not be reached (only with --skip-unreachable).'),
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
