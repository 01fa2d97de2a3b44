// One error class for the build module (family config, lock, planner, builder). Callers switch
// on `code`; messages start with context and name the file and field.
import { BaseError, type ErrorOptions } from '../core/index.js';
import type { Problem } from './config/problems.js';

/** Codes raised by the build module. Each area appends its own codes. */
export type BuildErrorCode =
  // --- config, lock, planner (H7) ---
  | 'CONFIG_READ' // lading.yaml or a site override cannot be read
  | 'CONFIG_INVALID' // validation found problems (see `problems`)
  | 'CONTEXT_INVALID' // a build-context file cannot be read or hashed
  | 'UNKNOWN_IMAGE' // a selected image is not in the family
  | 'UNKNOWN_PROFILE' // a selected profile is not defined
  | 'UNKNOWN_ARCH' // a selected architecture is not one of the family's
  | 'LOCK_MISSING' // no lading.lock, or it lacks an image/arch the plan needs
  | 'LOCK_INVALID' // lading.lock does not parse or does not match its schema
  | 'LOCK_STALE' // lading.yaml changed since lading.lock was written
  | 'PLAN_INPUT_MISSING' // the planner was not given a file digest it needs
  | 'RECORD_INVALID' // a build record in the store is malformed
  | 'PACKAGE_UNKNOWN' // lock time: a package of the config is not in the indexes
  | 'UNRESOLVABLE' // lock time: the resolver cannot satisfy an image's packages
  // --- builder (H8) ---
  | 'BASE_MISSING' // an external base image is not in the store (and could not be fetched)
  | 'PARENT_MISSING' // a parent image the plan reuses is not in the store any more
  | 'UNPACK_FAILED' // the packages of an image could not be fetched or unpacked
  | 'SCRIPTS_FAILED' // a maintainer script (preinst, dpkg --configure -a) failed
  | 'STEP_FAILED' // a run step exited nonzero or timed out
  | 'RUNTIME_FAILED' // the OCI runtime could not start a run step's container (retried)
  | 'FOREIGN_ARCH' // a script or step must run for an architecture this host cannot run
  | 'ACCOUNT_CONFLICT' // a user or group of the config clashes with one in the image
  | 'FILE_FAILED' // a file, directory or symlink of the config could not be placed
  | 'ROOTFS_FAILED' // mounting, materialising or diffing a root filesystem failed
  | 'FILE_NAME_INVALID' // a file name in the image is not UTF-8, which layers cannot carry
  | 'ASSEMBLE_FAILED' // the layer, config or manifest could not be written to the store
  | 'NEEDS_ROOT' // building runs containers, mounts overlays and restores file owners: root only
  | 'ABORTED'; // the build was interrupted

/** The error every function of the build module throws on purpose. */
export class BuildError extends BaseError<BuildErrorCode> {
  /** Every validation problem, for CONFIG_INVALID (and PACKAGE_UNKNOWN at lock time). */
  readonly problems: readonly Problem[];

  constructor(code: BuildErrorCode, message: string, options: ErrorOptions & { problems?: readonly Problem[] } = {}) {
    super(code, message, options);
    this.problems = options.problems ?? [];
  }
}
