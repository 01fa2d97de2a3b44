#!/usr/bin/env node
// Runs the test suites with node's built-in runner (TypeScript through tsx).
//   node scripts/test.mjs            unit tests (src/**/*.test.ts) + end-to-end tests (test/e2e)
//   node scripts/test.mjs --unit     unit tests only
//   node scripts/test.mjs --e2e      end-to-end tests only
//   node scripts/test.mjs --openstack  the heavy examples/openstack family run (test/openstack)
//   node scripts/test.mjs FILE...    just these files
// Tests that need the Debian mirror skip themselves when it is unreachable (LADING_OFFLINE=1 forces it).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const files = args.filter((a) => !a.startsWith('--'));

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    if (name === 'node_modules' || name === 'testdata' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

if (files.length === 0) {
  const unit = !flags.has('--e2e') && !flags.has('--openstack');
  const e2e = !flags.has('--unit') && !flags.has('--openstack');
  if (unit) files.push(...find(join(root, 'src')));
  if (e2e) files.push(...find(join(root, 'test/e2e')));
  if (flags.has('--openstack')) files.push(...find(join(root, 'test/openstack')));
}
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const nodeArgs = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=1800000', ...files];
const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
