// BuildPlan and BuildRecord: versioned data shared by the planner (pure), the builder (which
// applies a plan and writes records) and `lading plan --json`. Schemas generated into
// schemas/build-plan.schema.json and schemas/build-record.schema.json.
import { z } from 'zod';

/** Version of the BuildPlan format. */
export const PLAN_VERSION = 1;
/** Version of the BuildRecord format. */
export const RECORD_VERSION = 1;
/**
 * Version of lading's layer and image assembly. It is part of every input hash: the builder
 * bumps it whenever the bytes it writes for the same inputs change, so stale images rebuild.
 */
export const LAYER_FORMAT_VERSION = 3;

export const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

/** What an image is built on, as it enters the input hash. */
export const ParentInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('scratch') }),
  z.strictObject({ kind: z.literal('image'), name: z.string(), inputHash: Digest.describe('Input hash of the family parent (for the same architecture).') }),
  z.strictObject({ kind: z.literal('external'), reference: z.string(), digest: Digest }),
]);

/** A context file as it enters the input hash. */
export const FileInputSchema = z.strictObject({
  kind: z.enum(['file', 'tree']),
  digest: Digest,
  executable: z.boolean().optional(),
});

/** A package as it enters the input hash. */
export const PackageInputSchema = z.strictObject({ version: z.string(), sha256: z.string() });

/**
 * Everything that determines the bytes of one image on one architecture. Its canonical JSON
 * digest is the input hash. Volatile labels/annotations and wall-clock dates are not in it.
 */
export const InputManifestSchema = z.strictObject({
  layerFormat: z.number().int(),
  image: z.string(),
  arch: z.string(),
  parent: ParentInputSchema,
  /** Normalised definition: own settings, files (by dest), dirs, links, users, groups, run steps, project metadata, compression... */
  definition: z.record(z.string(), z.unknown()).describe('The normalised image definition that is hashed (without volatile values).'),
  packages: z.record(z.string(), PackageInputSchema).describe('Packages this image adds over its parent: name -> version and SHA256 of the .deb.'),
  files: z.record(z.string(), FileInputSchema).describe('Build-context sources copied by this image: src -> digest.'),
  epoch: z.union([z.literal('packages'), z.number().int()]).describe('SOURCE_DATE_EPOCH policy or fixed value.'),
});

/** Why an image is (re)built. */
export const ReasonSchema = z.strictObject({
  code: z.enum([
    'new', // no previous build of this image/arch
    'missing', // the previous image, or a blob of it, is no longer in the store
    'forced', // asked for with --force
    'layer-format', // lading's layer format changed
    'parent', // the parent was rebuilt or changed
    'base', // the base (scratch / external reference or digest) changed
    'package-added',
    'package-removed',
    'package-changed',
    'file-added',
    'file-removed',
    'file-changed',
    'definition', // a field of the image definition changed
    'epoch', // the SOURCE_DATE_EPOCH policy changed
    'inputs', // the input hash differs for a reason not listed above
  ]),
  message: z.string(),
});

const StepCommon = {
  image: z.string(),
  arch: z.string(),
  inputHash: Digest,
  parent: ParentInputSchema,
};

/** Build one image on one architecture. */
export const BuildStepSchema = z.strictObject({
  kind: z.literal('build'),
  ...StepCommon,
  reasons: z.array(ReasonSchema).min(1),
  inputs: InputManifestSchema.describe('What the builder must record with the built image (BuildRecord.inputs).'),
  layerHash: Digest.optional().describe('Digest of the inputs that decide the layers (the input hash without config-only fields such as labels, entrypoint, ports or project metadata); kept in the build record.'),
  layersFrom: Digest.optional().describe('A stored image with the same layer hash: only its config and manifest are made again, on its layers.'),
});

/** Reuse an image already in the store (same input hash). */
export const ReuseStepSchema = z.strictObject({
  kind: z.literal('reuse'),
  ...StepCommon,
  digest: Digest.describe('Manifest digest of the stored image.'),
  layerHash: Digest.optional().describe('See BuildStep.layerHash; recorded when the builder rebuilds the image after all.'),
});

/** One step of a plan. */
export const PlanStepSchema = z.discriminatedUnion('kind', [BuildStepSchema, ReuseStepSchema]);

/** The plan: batches run in order; the steps of one batch do not depend on each other. */
export const BuildPlanSchema = z
  .strictObject({
    planVersion: z.literal(PLAN_VERSION),
    family: z.string(),
    layerFormat: z.number().int(),
    architectures: z.array(z.string()),
    selection: z.strictObject({
      images: z.array(z.string()).describe('Images asked for (names or globs).'),
      profiles: z.array(z.string()),
      selected: z.array(z.string()).describe('Every image in the plan, with ancestors, in build order.'),
    }),
    batches: z.array(z.array(PlanStepSchema)).describe('Parents first; steps in one batch are independent.'),
    summary: z.strictObject({ build: z.number().int(), reuse: z.number().int() }),
    warnings: z
      .array(z.strictObject({ code: z.string(), image: z.string(), arch: z.string(), message: z.string() }))
      .optional()
      .describe('Set by `lading plan`: images the build is known to fail before it starts (FOREIGN_ARCH) and the ones below them it will skip (PARENT_FAILED).'),
  })
  .meta({ title: 'lading build plan', description: 'Output of `lading plan --json`: what will be built, why, and what is reused.' });

/** What the builder keeps in the store for every image it builds (see records.ts). */
export const BuildRecordSchema = z
  .strictObject({
    recordVersion: z.literal(RECORD_VERSION),
    family: z.string(),
    image: z.string(),
    arch: z.string(),
    inputHash: Digest,
    digest: Digest.describe('Manifest digest of the built per-architecture image.'),
    layerHash: Digest.optional().describe('See BuildStep.layerHash (absent in older records).'),
    parentDigest: Digest.optional().describe('Manifest digest of the family parent it was built on (absent for scratch and external bases, and in older records).'),
    inputs: InputManifestSchema,
    builtAt: z.string().describe('RFC 3339 wall-clock time of the build (informational, never hashed).'),
    volatile: z
      .strictObject({ labels: z.record(z.string(), z.string()), annotations: z.record(z.string(), z.string()) })
      .optional()
      .describe('Volatile labels/annotations applied by that build.'),
  })
  .meta({ title: 'lading build record', description: 'Kept by the builder in the store: input hash -> image digest and the inputs behind it.' });

/** What an image is built on, as hashed. */
export type ParentInput = z.infer<typeof ParentInputSchema>;
/** A context file as hashed. */
export type FileInput = z.infer<typeof FileInputSchema>;
/** A package as hashed. */
export type PackageInput = z.infer<typeof PackageInputSchema>;
/** Everything that determines one image's bytes; its digest is the input hash. */
export type InputManifest = z.infer<typeof InputManifestSchema>;
/** Why a step builds. */
export type Reason = z.infer<typeof ReasonSchema>;
/** A reason code. */
export type ReasonCode = Reason['code'];
/** Build one image on one architecture. */
export type BuildStep = z.infer<typeof BuildStepSchema>;
/** Reuse a stored image. */
export type ReuseStep = z.infer<typeof ReuseStepSchema>;
/** One step of a plan. */
export type PlanStep = z.infer<typeof PlanStepSchema>;
/** The build plan. */
export type BuildPlan = z.infer<typeof BuildPlanSchema>;
/** A build record kept in the store. */
export type BuildRecord = z.infer<typeof BuildRecordSchema>;
