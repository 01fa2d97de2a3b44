import { BaseError } from '../core/index.js';

/**
 * What failed when running a command in a rootfs. A command that runs and exits nonzero is
 * NOT an error (it is a value in RunResult); these codes are for everything around it.
 */
export type RuntimeErrorCode =
  /** Neither runc nor crun (nor the runtime asked for) can run a container on this host. */
  | 'NO_RUNTIME'
  /** The runtime asked for (option or LADING_RUNTIME) is not an executable or failed its probe. */
  | 'RUNTIME_UNUSABLE'
  /** lading runs containers as root only (no user namespaces); see docs/runtime.md. */
  | 'ROOTLESS_UNSUPPORTED'
  /** Options that cannot describe a container: relative paths, unknown capability, bad env... */
  | 'INVALID_OPTIONS'
  /** The rootfs is missing, not a directory, or a path inside it cannot be prepared. */
  | 'ROOTFS_INVALID'
  /** A user or group name that the rootfs's /etc/passwd or /etc/group does not know. */
  | 'USER_UNKNOWN'
  /** A bind-mount source does not exist. */
  | 'MOUNT_SOURCE_MISSING'
  /** The runtime could not create or start the container (namespaces, mounts, cgroups...). */
  | 'CREATE_FAILED'
  /** The container started but the command could not be executed (not found, not executable). */
  | 'EXEC_FAILED'
  /** The caller's AbortSignal fired; the container was killed and deleted. */
  | 'ABORTED'
  /** Writing the log file or bundle, or cleaning up afterwards, failed. */
  | 'IO';

/** Errors of the runtime module; `code` says what failed. */
export class RuntimeError extends BaseError<RuntimeErrorCode> {}
