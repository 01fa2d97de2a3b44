// Tests that need the network to the Debian mirror skip themselves cleanly: with LADING_OFFLINE=1,
// without http apt sources on the machine, or when the first one does not answer.
import { loadSources, type AptSource } from '../../src/debian/index.js';

/** Why an online test must skip, or false when the machine's first http apt source answers. */
export async function mirrorSkipReason(): Promise<string | false> {
  if (process.env.LADING_OFFLINE === '1') return 'LADING_OFFLINE=1';
  let sources: AptSource[];
  try {
    sources = (await loadSources()).sources.filter((s) => s.uri.startsWith('http'));
  } catch (err) {
    return `no usable apt sources on this machine: ${(err as Error).message}`;
  }
  const first = sources[0];
  if (!first) return 'no http apt sources configured on this machine';
  try {
    const res = await fetch(`${first.uri}dists/${first.suite}/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    return res.ok ? false : `${first.uri} answered HTTP ${res.status}`;
  } catch (err) {
    return `mirror unreachable: ${(err as Error).message}`;
  }
}
