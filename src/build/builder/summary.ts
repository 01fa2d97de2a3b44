// The result of a family build as `lading build --json` prints it. The zod schema is the
// published contract (schemas/build-summary.schema.json); the e2e tests parse real output with it.
import { z } from 'zod';
import { BuildPlanSchema, Digest, ReasonSchema } from '../plan/schema.js';
import { STAGES } from './image.js';

/** Bumped when a field changes meaning or goes away (new optional fields do not bump it). */
export const SUMMARY_VERSION = 1;

const Item = { image: z.string(), arch: z.string() };

/** Why an image was not attempted. */
export const SKIP_CODES = ['PARENT_FAILED', 'PARENT_SKIPPED'] as const;

export const BuildSummarySchema = z
  .strictObject({
    summaryVersion: z.literal(SUMMARY_VERSION),
    family: z.string(),
    store: z.string().describe('Path of the OCI layout store.'),
    lock: z.strictObject({ path: z.string(), written: z.boolean().describe('True when this build (re)wrote lading.lock.') }),
    plan: BuildPlanSchema,
    built: z.array(
      z.strictObject({
        ...Item,
        digest: Digest.describe('Manifest digest of the per-architecture image.'),
        inputHash: Digest,
        created: z.string().describe('The image config\'s created time (RFC 3339, the SOURCE_DATE_EPOCH).'),
        layer: z
          .strictObject({
            digest: Digest,
            diffId: Digest,
            size: z.number().int(),
            uncompressedSize: z.number().int().optional(),
            entries: z.number().int().optional(),
            whiteouts: z.number().int().optional(),
          })
          .describe('The image\'s own layer; the counts are absent when it was reused from layersFrom.'),
        packages: z.number().int().describe('Packages the image adds over its parent.'),
        durationMs: z.number(),
        stages: z.partialRecord(z.enum(STAGES), z.number()).describe('Milliseconds per build stage.'),
        attempts: z.number().int().min(1),
        reasons: z.array(ReasonSchema).describe('Why it was built (the plan step\'s reasons).'),
        layersFrom: Digest.optional().describe('Only the config changed: the stored image whose layers it reuses.'),
        log: z.string(),
      }),
    ),
    reused: z.array(z.strictObject({ ...Item, digest: Digest })),
    failed: z.array(
      z.strictObject({
        ...Item,
        code: z.string().describe('The error code (docs/build.md lists them).'),
        reason: z.string(),
        log: z.string().describe('The image\'s build log; empty when no build started (its parent could not be loaded, or FOREIGN_ARCH was known beforehand).'),
        attempts: z.number().int().min(0),
      }),
    ),
    skipped: z.array(z.strictObject({ ...Item, code: z.enum(SKIP_CODES), reason: z.string() })).describe('Images not attempted because their parent failed or was skipped.'),
    names: z
      .array(z.strictObject({ image: z.string(), name: z.string(), digest: Digest, mediaType: z.string(), changed: z.boolean() }))
      .describe('Store names set or confirmed: <image>:<tag> -> the manifest (one arch) or index.'),
    unnamed: z
      .array(
        z.strictObject({
          image: z.string(),
          name: z.string(),
          reason: z.string().describe('Which architectures failed or were skipped, e.g. "its arm64 failed".'),
          keeps: Digest.optional().describe('What the name still points at, when it existed before.'),
        }),
      )
      .describe('Images built or reused on some architectures but not named, because another architecture failed or was skipped (a name stands for all of them).'),
    logDir: z.string(),
    overlay: z.boolean().describe('Whether child images were built on overlayfs (else on copies of their parents).'),
    durationMs: z.number(),
  })
  .meta({ title: 'lading build summary', description: 'Output of `lading build --json`: what was built, reused, failed and skipped, and why.' });
