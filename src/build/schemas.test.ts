import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { jsonSchemaFiles } from './schemas.js';
import { WrittenFamilySchema, WrittenImageSchema, WrittenOverrideSchema, ImagePatchSchema } from './config/written.js';

const root = new URL('../../', import.meta.url);

test('the committed schemas/ match the zod schemas (run `npm run gen:schemas` after changing a format)', async () => {
  const want = jsonSchemaFiles();
  const have = (await readdir(new URL('schemas/', root))).filter((n) => n.endsWith('.schema.json')).sort();
  assert.deepEqual(have, Object.keys(want).sort());
  for (const [name, text] of Object.entries(want)) {
    assert.equal(await readFile(new URL(`schemas/${name}`, root), 'utf8'), text, `schemas/${name} is stale: run npm run gen:schemas`);
  }
});

test('docs/config.md documents every key of lading.yaml, of an image and of a site override', async () => {
  const doc = await readFile(new URL('docs/config.md', root), 'utf8');
  const keys = (s: { shape: Record<string, unknown> }) => Object.keys(s.shape);
  const missing = [...keys(WrittenFamilySchema), ...keys(WrittenImageSchema), ...keys(WrittenOverrideSchema), ...keys(ImagePatchSchema)].filter((k) => !doc.includes(`\`${k}\``));
  assert.deepEqual([...new Set(missing)], []);
});
