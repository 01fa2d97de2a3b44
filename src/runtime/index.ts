// Public surface of runtime: run a command in a root filesystem with an OCI runtime (runc or
// crun, whichever works here). See docs/runtime.md for what a container gets.
export { RuntimeError } from './errors.js';
export type { RuntimeErrorCode } from './errors.js';
export { runInRootfs } from './run.js';
export { runWithRuntime, newContainerId } from './container.js';
export { removeStaleContainers } from './stale.js';
export type { RemoveStaleContainersOptions, StaleContainer } from './stale.js';
export type { RunOptions, RunResult, RuntimeInfo, BindMount, TmpfsMount } from './container.js';
export type { OutputSink } from './output.js';
export { detectRuntime, findExecutable, RUNTIME_CANDIDATES } from './detect.js';
export type { DetectRuntimeOptions } from './detect.js';
export { resolveUser } from './user.js';
export type { UserSpec, ProcessUser, ResolvedUser } from './user.js';
export { architectureSupport, canRunArchitecture, hostArchitecture, parseBinfmtEntry, QEMU_NAMES } from './arch.js';
export type { ArchitectureSupport, ArchitectureOptions, BinfmtEntry } from './arch.js';
export {
  buildRuntimeConfig,
  serializeRuntimeConfig,
  effectiveRlimits,
  standardMounts,
  DEFAULT_CAPABILITIES,
  KNOWN_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  DEFAULT_PATH,
  DEFAULT_RLIMITS,
  NOFILE_CEILING,
} from './spec.js';
export type { OciRuntimeConfig, OciMount, OciRlimit, RuntimeConfigInput, RlimitName, RlimitValue } from './spec.js';
