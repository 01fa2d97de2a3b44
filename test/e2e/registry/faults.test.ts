// 50 copies through a fault-injecting proxy in front of the real registry: connection resets
// mid-blob (uploads and downloads), 500, 503 and 429 with Retry-After, at seeded rates. Each copy
// must end with verified content or a clear error, and after every copy no tag in the
// destination (checked directly, not through the proxy) may point at a manifest with missing blobs.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openLayout, type LayoutStore } from '../../../src/layout/index.js';
import type { ContentTarget, ManifestDocument } from '../../../src/oci/index.js';
import { RegistryClient, RegistryRepository, copyImages, type CopyItem } from '../../../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../../helpers/registry.js';
import { missingContent, randomLayer, writeImage } from './fixtures.js';

const COPIES = 50;
const RATES = { reset: 0.06, e500: 0.04, e503: 0.04, e429: 0.04 };

let reg: RegistryHandle;
let proxy: FaultProxy;
let dir: string;
let store: LayoutStore;
const images: ManifestDocument[] = [];

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy({ upstream: reg.url, seed: 20261127, rates: {}, rateLimitHeaders: true, retryAfterSeconds: 1 });
  dir = await mkdtemp(join(tmpdir(), 'lading-faults-'));
  store = await openLayout({ path: join(dir, 'src'), create: true });
  const base = await randomLayer(96 * 1024);
  for (let i = 0; i < COPIES; i++) {
    images.push(await writeImage(store, { layers: [base, await randomLayer(24 * 1024 + i)], tag: `img${i}`, label: String(i) }));
  }
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Reads every blob of every tag straight from the registry (verified streams) and lists what is missing. */
async function audit(target: ContentTarget): Promise<string[]> {
  const problems: string[] = [];
  for (const tag of await target.listTags()) {
    problems.push(...(await missingContent(target, tag)));
  }
  return problems;
}

async function drain(target: ContentTarget, doc: ManifestDocument): Promise<void> {
  if (doc.kind !== 'manifest') return;
  for (const d of [doc.value.config, ...doc.value.layers]) {
    const s = await target.openBlob(d);
    for await (const _ of s) {
      // the VerifyingStream fails at the end on a mismatch
    }
  }
}

test(`${COPIES} copies through a fault-injecting proxy end verified or with a clear error; no tag ever points at missing blobs`, async (t) => {
  // Fast backoff; Retry-After (1 s) is honoured but capped at 40 ms so the test stays short.
  const faulty = new RegistryClient({ retry: { retries: 6, baseDelayMs: 5, maxDelayMs: 40, maxRetryAfterMs: 40 }, chunkSize: 32 * 1024 });
  const direct = new RegistryClient();
  let ok = 0;
  let failed = 0;
  let retries = 0;
  let rateLimitSeen = false;
  const errors: string[] = [];
  for (let i = 0; i < COPIES; i++) {
    const img = images[i] as ManifestDocument;
    const kind = i % 3;
    let item: CopyItem;
    let check: ContentTarget;
    if (kind === 0 || i < 3) {
      // layout -> registry (uploads through the proxy)
      item = { source: store, reference: `img${i}`, destination: new RegistryRepository(faulty, proxy.host, `faults/up${i % 5}`), tags: [`t${i}`] };
      check = new RegistryRepository(direct, reg.host, `faults/up${i % 5}`);
    } else if (kind === 1) {
      // registry -> another repository of it (HEAD, mount, downloads through the proxy)
      item = { source: new RegistryRepository(faulty, proxy.host, `faults/up${(i - 1) % 5}`), reference: `t${i - 1}`, destination: new RegistryRepository(faulty, proxy.host, `faults/mv${i % 4}`), tags: [`t${i}`] };
      check = new RegistryRepository(direct, reg.host, `faults/mv${i % 4}`);
    } else {
      // registry -> layout (downloads through the proxy, engine-level retries)
      const out = await openLayout({ path: join(dir, `out${i % 4}`), create: true });
      item = { source: new RegistryRepository(faulty, proxy.host, `faults/up${(i - 2) % 5}`), reference: `t${i - 2}`, destination: out, tags: [`t${i}`] };
      check = out;
    }
    proxy.setRates(RATES);
    const t0 = Date.now();
    const report = await copyImages([item], { retry: { retries: 6, baseDelayMs: 5, maxDelayMs: 40 } });
    if (Date.now() - t0 > 300) t.diagnostic(`copy ${i} took ${Date.now() - t0} ms, ${report.images[0]?.retries} retries`);
    proxy.setRates({});
    const r = report.images[0];
    assert.ok(r);
    retries += r.retries;
    if (r.rateLimits && Object.keys(r.rateLimits).length > 0) rateLimitSeen = true;
    if (report.ok) {
      ok++;
      const expected = kind === 0 || i < 3 ? img.digest : (images[kind === 1 ? i - 1 : i - 2] as ManifestDocument).digest;
      assert.equal(r.digest, expected);
      const doc = await check.getManifest(`t${i}`);
      assert.equal(doc?.digest, expected, `copy ${i}: tag t${i} points at the copied digest`);
      await drain(check, doc as ManifestDocument);
    } else {
      failed++;
      // A clear error: a code, and a message naming what was being done.
      assert.ok(r.errorCode, `copy ${i}: error without a code: ${r.error}`);
      assert.match(r.error ?? '', /^(pushing|pulling|checking|copying|mounting|listing)\b/, `copy ${i}: ${r.error}`);
      assert.equal(r.tagsWritten.length, 0);
      errors.push(`${r.errorCode}: ${r.error}`);
    }
    assert.deepEqual(await audit(check), [], `copy ${i}: a tag points at a manifest with missing content`);
  }
  const s = proxy.stats;
  t.diagnostic(`ok ${ok}, failed ${failed}, retries ${retries}, proxy ${JSON.stringify(s)}${errors.length ? `, errors: ${errors.join('; ')}` : ''}`);
  // The faults really happened, of every kind, and were retried.
  assert.ok(s.resets > 5 && s.e500 > 2 && s.e503 > 2 && s.e429 > 2, JSON.stringify(s));
  assert.ok(retries > 10, `retries ${retries}`);
  assert.ok(rateLimitSeen, 'rate-limit headers reported');
  assert.equal(ok + failed, COPIES);
  assert.ok(ok >= COPIES * 0.9, `only ${ok} of ${COPIES} succeeded: ${errors.join('; ')}`);
});
