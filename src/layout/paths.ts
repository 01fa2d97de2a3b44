// File names inside a store, and small helpers about the processes that own temp files.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processStartTime, splitDigest, type Digest } from '../core/index.js';

/** The `oci-layout` file content lading writes (image-layout.md). */
export const LAYOUT_HEADER = '{"imageLayoutVersion":"1.0.0"}';
/** The only imageLayoutVersion defined by image-spec v1.1.1. */
export const LAYOUT_VERSION = '1.0.0';
/** Annotation holding a layout's local name (annotations.md "ref.name"). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * lading's private corner of a store: the index lock, temp files of blobs being written, and the
 * leases of live writers. Other tools ignore it (image-layout.md: unknown files MUST NOT cause errors).
 */
export const STATE_DIR = '.lading';

/** Where things live inside a store rooted at `root`. */
export class StorePaths {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }
  get header(): string {
    return join(this.root, 'oci-layout');
  }
  get index(): string {
    return join(this.root, 'index.json');
  }
  get blobs(): string {
    return join(this.root, 'blobs');
  }
  get state(): string {
    return join(this.root, STATE_DIR);
  }
  /** Lock taken for every read-modify-write of index.json, and by gc for its whole run. */
  get lock(): string {
    return join(this.state, 'index.lock');
  }
  get tmp(): string {
    return join(this.state, 'tmp');
  }
  get leases(): string {
    return join(this.state, 'leases');
  }
  blob(digest: Digest): string {
    const { algorithm, hex } = splitDigest(digest);
    return join(this.blobs, algorithm, hex);
  }
  /** A fresh temp file name carrying the writer's pid, so gc can tell live writers from dead ones. */
  newTemp(): string {
    return join(this.tmp, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
  }
}

/** The pid a temp file name (ours, or core's `.x.tmp-<pid>-<hex>`) carries, if any. */
export function tempOwnerPid(name: string): number | undefined {
  const m = /^(\d+)-[0-9a-f]+\.tmp$/.exec(name) ?? /\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Who holds a lease, as written in `.lading/leases/<pid>-<token>.json`. */
export interface LeaseRecord {
  pid: number;
  /** processStartTime of the writer: its pid may name another process later. */
  start?: string;
  host: string;
  /** Epoch milliseconds when the writer started; blobs newer than this may still be unnamed. */
  started: number;
}

/** A lease record for this process. */
export function myLease(): LeaseRecord {
  const start = processStartTime();
  return { pid: process.pid, ...(start !== undefined ? { start } : {}), host: hostname(), started: Date.now() };
}
