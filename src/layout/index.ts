// Public surface of layout: the OCI image-layout store (blobs, ref names, gc, verify, inspect).
export { LayoutStore, openLayout } from './store.js';
export type { OpenLayoutOptions } from './store.js';
export type { WriteBlobOptions, BlobFile, IndexFile, NamedDescriptor } from './base.js';
export { LayoutError } from './errors.js';
export type { LayoutErrorCode } from './errors.js';
export type { GcOptions, GcReport } from './gc.js';
export { createImageCheck } from './verify.js';
export type { VerifyOptions, VerifyReport, VerifyProblem, ImageValidator } from './verify.js';
export { formatPlatform } from './inspect.js';
export type { InspectResult, ConfigSummary, ListEntry } from './inspect.js';
export { REF_NAME, STATE_DIR } from './paths.js';
