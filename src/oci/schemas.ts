// zod schemas for the OCI documents (image-spec v1.1.1 descriptor.md, manifest.md,
// image-index.md, config.md). Objects are "loose": unknown fields are kept, because consumers
// MUST ignore unknown fields and lading never re-serialises a document it did not write.
import { z } from 'zod';
import { isDigest, type Digest } from '../core/index.js';

const digest = z.string().refine((s) => isDigest(s), { message: 'invalid digest (want sha256:<64 lower-case hex> or sha512:<128>)' }) as unknown as z.ZodType<Digest>;
const mediaType = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/, 'invalid media type (RFC 6838)');
const annotations = z.record(z.string(), z.string());

export const PlatformSchema = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.looseObject({
  mediaType,
  digest,
  size: z.int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  artifactType: mediaType.optional(),
  platform: PlatformSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: mediaType.optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: mediaType.optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type Index = z.infer<typeof IndexSchema>;

const emptyObjectMap = z.record(z.string(), z.looseObject({}));

export const ContainerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptyObjectMap.optional(),
  Env: z.array(z.string()).nullable().optional(),
  Entrypoint: z.array(z.string()).nullable().optional(),
  Cmd: z.array(z.string()).nullable().optional(),
  Volumes: emptyObjectMap.nullable().optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullable().optional(),
  StopSignal: z.string().optional(),
});
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const HistorySchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  created_by: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ContainerConfigSchema.optional(),
  rootfs: z.looseObject({ type: z.literal('layers'), diff_ids: z.array(digest) }),
  history: z.array(HistorySchema).optional(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** The `oci-layout` file of an image layout (image-layout.md). */
export const LayoutHeaderSchema = z.looseObject({ imageLayoutVersion: z.string() });

/** "field.path: message; other.path: message" from a zod error, for one-line user errors. */
export function formatIssues(error: z.ZodError, max = 8): string {
  const parts = error.issues.slice(0, max).map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return `${path || '(root)'}: ${i.message}`;
  });
  if (error.issues.length > max) parts.push(`and ${error.issues.length - max} more`);
  return parts.join('; ');
}
