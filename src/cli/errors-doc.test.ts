// docs/errors.md lists every error code a user can see: each code of every module's
// `XxxErrorCode` union (and the registry's spec codes, and a build summary's skip codes), and
// none that no longer exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'testdata') out.push(...(await sourceFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('docs/errors.md lists every error code of every module, and no code that is gone', async () => {
  const codes = new Map<string, Set<string>>();
  for (const file of await sourceFiles(join(root, 'src'))) {
    const text = await readFile(file, 'utf8');
    const area = file.slice(join(root, 'src').length + 1).split('/')[0] as string;
    const bodies = [...text.matchAll(/export type \w+ErrorCode =([\s\S]*?'[A-Z_]+'\s*;)/g), ...text.matchAll(/(?:SPEC_ERROR_CODES|SKIP_CODES) = \[([\s\S]*?)\]/g)].map((m) => m[1] as string);
    for (const body of bodies) {
      // Comments may quote other words in capitals: only quoted literals count.
      for (const m of body.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '').matchAll(/'([A-Z_]+)'/g)) {
        const code = m[1] as string;
        codes.set(code, (codes.get(code) ?? new Set()).add(area));
      }
    }
  }
  assert.ok(codes.size > 80, `found the code unions (${codes.size} codes)`);
  const doc = await readFile(join(root, 'docs/errors.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| ([a-z, ]+) \|/gm)) rows.set(m[1] as string, m[2] as string);
  const missing = [...codes.keys()].filter((c) => !rows.has(c)).sort();
  assert.deepEqual(missing, [], 'codes without a row in docs/errors.md');
  const gone = [...rows.keys()].filter((c) => !codes.has(c)).sort();
  assert.deepEqual(gone, [], 'rows of docs/errors.md whose code no module has');
  for (const [code, areas] of codes) assert.equal(rows.get(code), [...areas].sort().join(', '), `areas of ${code}`);
});
