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

test('the JSON Schema refuses the names, keys, paths, ports and dates the loader refuses', () => {
  const schema = JSON.parse(jsonSchemaFiles()['lading.schema.json'] as string) as {
    properties: { images: { propertyNames: { pattern: string }; additionalProperties: { properties: Record<string, { propertyNames?: { pattern: string }; pattern?: string; items?: { anyOf?: Array<{ pattern?: string }> } }> } } };
  };
  const image = schema.properties.images.additionalProperties.properties;
  const re = (p: string | undefined) => new RegExp(p ?? '(?!)');
  const matches = (p: string | undefined, values: string[]) => values.filter((v) => re(p).test(v));
  assert.deepEqual(matches(schema.properties.images.propertyNames.pattern, ['keystone', 'nova-api', 'UPPER', 'a..b']), ['keystone', 'nova-api']);
  assert.deepEqual(matches(image.env?.propertyNames?.pattern, ['PATH', '_X1', '1X', 'A-B']), ['PATH', '_X1']);
  assert.deepEqual(
    matches(image.labels?.propertyNames?.pattern, ['com.example.tier', 'org.opencontainers.image.title', 'org.opencontainers.image.created', 'dev.lading.owner.team', '']),
    ['com.example.tier', 'org.opencontainers.image.title'],
  );
  assert.deepEqual(matches(image.workdir?.pattern, ['/srv', 'srv']), ['/srv']);
  // A run step: exactly one of script and args.
  assert.deepEqual((image.run as unknown as { items: { oneOf: unknown } }).items.oneOf, [{ required: ['script'] }, { required: ['args'] }]);
  const port = image.ports?.items?.anyOf?.find((a) => a.pattern)?.pattern;
  assert.deepEqual(matches(port, ['1', '80/tcp', '65535/udp', '08080', '0', '65536', '99999']), ['1', '80/tcp', '65535/udp', '08080']);
});
