// Listing the entries of a layer (for inspection, structure gates and tests).
import type { Readable } from 'node:stream';
import { Hasher, throwIfAborted, type Digest } from '../../core/index.js';
import type { LayerEntryInfo } from './entries.js';
import { memberInfo, readTar } from './reader.js';

/** Options of readLayerEntries. */
export interface ReadLayerOptions {
  /** The uncompressed tar stream (see createDecompressor). */
  stream: Readable | AsyncIterable<Uint8Array>;
  /** Also compute the sha256 of every regular file's content. Default false. */
  digests?: boolean;
  signal?: AbortSignal;
}

/** A listed entry; `digest` is set for regular files when asked for. */
export type LayerListing = LayerEntryInfo & { readonly digest?: Digest };

/**
 * The entries of a layer in archive order, whiteout markers reported as `whiteout`/`opaque`
 * entries naming what they hide. Paths are canonical; `..` or absolute names are
 * TAR_UNSAFE_PATH and malformed archives TAR_INVALID, both naming the member.
 */
export async function readLayerEntries(options: ReadLayerOptions): Promise<LayerListing[]> {
  const out: LayerListing[] = [];
  for await (const { member, content } of readTar(options.stream)) {
    throwIfAborted(options.signal, 'reading a layer');
    const info = memberInfo(member);
    if (info.path === '' && info.type === 'dir') continue; // a `./` root entry
    if (options.digests && member.type === 'file') {
      const h = new Hasher();
      for await (const chunk of content) h.update(chunk);
      out.push({ ...info, digest: h.digest() });
    } else {
      out.push(info);
    }
  }
  return out;
}
