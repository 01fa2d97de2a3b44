// Public surface of the build module: family config (written vs normalised, JSON Schema),
// family lock, pure planner, and the builder.
export { BuildError } from './errors.js';
export type { BuildErrorCode } from './errors.js';

// --- family config, lock, planner (H7) ---
export { parseFamily, loadFamily } from './config/load.js';
export type { ConfigText, ParseFamilyOptions, ParsedFamily, LoadFamilyOptions, LoadedFamily } from './config/load.js';
export { formatProblem, formatPath, sortProblems, didYouMean } from './config/problems.js';
export type { Problem, ProblemCode, FieldPath, SourcePosition } from './config/problems.js';
export type { PackageOrigin } from './config/override.js';
export { LADING_KEY_PREFIX, USER_SETTABLE_OCI_KEYS, inherit, toAptSources, deb822Text } from './config/normalise.js';
export type { ContextEntryKind } from './config/normalise.js';
export { WrittenFamilySchema, WrittenOverrideSchema, DEBIAN_ARCHITECTURES, durationSeconds } from './config/written.js';
export type { WrittenFamily, WrittenImage, WrittenOverride, ImagePatch } from './config/written.js';
export type * from './config/types.js';
export { imageMetadata, LADING_KEYS } from './config/metadata.js';
export type { ImageMetadata } from './config/metadata.js';
export { selectImages, describeFamily } from './config/select.js';
export type { Selection, ImageSummary, FamilySummary } from './config/select.js';
export { hashContext } from './config/context.js';
export type { ContextDigest, ContextDigests, HashContextOptions } from './config/context.js';
export { lockRequests, checkLock, assertLockFresh, parseFamilyLock, serializeFamilyLock, imagePackages } from './lock/lock.js';
export type { LockRequests, LockCheck } from './lock/lock.js';
export { FamilyLockSchema, LOCK_VERSION } from './lock/schema.js';
export type { FamilyLock, ArchLock, ImageLock, ImageRequest } from './lock/schema.js';
export { planBuild, imageInputs, inputHash, hashedDefinition } from './plan/plan.js';
export type { PlanOptions, StoreState } from './plan/plan.js';
export { diffInputs } from './plan/reasons.js';
export { readBuildRecords, writeBuildRecord, recordPaths } from './plan/records.js';
export type { ReadRecordsOptions, WriteRecordOptions } from './plan/records.js';
export { planFamily, listFamily, readFamilyLock, defaultLockPath, lockFamilyFiles } from './plan/family.js';
export type { FamilyFiles, PlanFamilyOptions, PlannedFamily, LockFamilyFilesOptions, LockFamilyFilesResult } from './plan/family.js';
export { lockFamily, resolveFamily, familySources } from './lock/family.js';
export type { LockFamilyOptions, LockedFamily } from './lock/family.js';
export { BuildPlanSchema, BuildRecordSchema, InputManifestSchema, PLAN_VERSION, RECORD_VERSION, LAYER_FORMAT_VERSION } from './plan/schema.js';
export { jsonSchemaFiles } from './schemas.js';
export type { BuildPlan, BuildRecord, BuildStep, ReuseStep, PlanStep, Reason, ReasonCode, InputManifest, ParentInput, FileInput, PackageInput } from './plan/schema.js';

// --- one-layer images from a directory (H2: `lading image from-dir`) ---
export { fromDir, DEFAULT_PATH } from './from-dir.js';
export type { FromDirOptions, FromDirResult } from './from-dir.js';

// --- the builder (H8: `lading build`) ---
export { buildFamily, buildLogPath, isTransient } from './builder/family.js';
export type { BuildFamilyOptions, BuildSummary, BuiltSummary, BuildEvent } from './builder/family.js';
export { buildImage, STAGES } from './builder/image.js';
export type { BuildImageOptions, BuildRun, BuiltImage, ParentImage, StageName } from './builder/image.js';
export { rootfsCacheDir } from './builder/rootfs.js';
export { foreignArchBlocks } from './builder/foreign.js';
export { BuildSummarySchema, SKIP_CODES, SUMMARY_VERSION } from './builder/summary.js';
export type { ForeignArchOptions, ForeignBlock } from './builder/foreign.js';
export { ociPlatform } from './builder/platform.js';
