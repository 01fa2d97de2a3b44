import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DebianError } from './errors.js';
import { loadKeyring } from './keyring.js';
import { verifyInRelease } from './release.js';

// subkeys-keyring.asc: one ed25519 primary key P (sign) with two signing subkeys S1 and S2, made
// with gpg; signed-by-<primary|subkey1|subkey2>.InRelease: the same text signed by exactly that
// key (gpg --local-user FPR!). apt 2.6 checked against the same layout: P trusts all three,
// P! only P, S1 (with or without !) only S1.
const testdata = new URL('./testdata/', import.meta.url);
const keyringPath = new URL('subkeys-keyring.asc', testdata).pathname;
const P = '3AD3EAE67922C83EF4F4AAD277E6B960F6AFC222';
const S1 = '1BF5200505A09C86F50D1C5F62000139F16C080F';
const S2 = '5CD08565C0DD257946685328126E67AF1532074F';
const signedBy = { primary: P, subkey1: S1, subkey2: S2 };
const now = new Date('2027-01-01T00:00:00Z');

async function accepted(fingerprint: string): Promise<string[]> {
  const keyring = await loadKeyring({ keyrings: [keyringPath], fingerprints: [fingerprint] });
  const out: string[] = [];
  for (const [name] of Object.entries(signedBy)) {
    const data = readFileSync(new URL(`signed-by-${name}.InRelease`, testdata));
    try {
      const v = await verifyInRelease(data, keyring, { what: name, now });
      assert.deepEqual(v.signers, [P], 'signers are named by their primary key');
      out.push(name);
    } catch (err) {
      if (!(err instanceof DebianError && err.code === 'SIGNATURE_INVALID')) throw err;
    }
  }
  return out;
}

test('Signed-By fingerprints select keys as apt does: FPR the key and its subkeys, FPR! and a subkey fingerprint that key only', async () => {
  assert.deepEqual(await accepted(P), ['primary', 'subkey1', 'subkey2']);
  assert.deepEqual(await accepted(`${P}!`), ['primary']);
  assert.deepEqual(await accepted(S1), ['subkey1']);
  assert.deepEqual(await accepted(`${S1}!`), ['subkey1']);
  const all = await loadKeyring({ keyrings: [keyringPath], fingerprints: [] });
  assert.deepEqual(all.fingerprints, [P]);
});

test('a real Debian InRelease signed by subkeys is refused when Signed-By names the primary key with "!"', async () => {
  const debianKeyring = new URL('debian-archive-keyring.gpg', testdata).pathname;
  const inRelease = readFileSync(new URL('bookworm-security.InRelease', testdata));
  const at = new Date('2026-11-26T00:00:00Z');
  // Both signatures come from signing subkeys (B0CAB926... of 05AB9034..., ED541312... of AC530D52...).
  const exact = await loadKeyring({ keyrings: [debianKeyring], fingerprints: ['05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0!'] });
  await assert.rejects(verifyInRelease(inRelease, exact, { what: 'InRelease', now: at }), (e: unknown) => e instanceof DebianError && e.code === 'SIGNATURE_INVALID');
  const subkey = await loadKeyring({ keyrings: [debianKeyring], fingerprints: ['B0CAB9266E8C3929798B3EEEBDE6D2B9216EC7A8!'] });
  assert.deepEqual((await verifyInRelease(inRelease, subkey, { what: 'InRelease', now: at })).signers, ['05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0']);
});
