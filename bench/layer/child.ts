// The measured side of bench/layer: builds one gzip layer from a directory into a file and
// prints its result, wall time and peak RSS as JSON. Runs in its own process so the peak RSS
// is lading's alone (the tree generator in run.ts does not count).
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { buildLayer } from '../../src/oci/index.js';

const [dir, out, epoch] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: child.ts DIR OUT [SOURCE_DATE_EPOCH]');
  process.exit(2);
}
const started = process.hrtime.bigint();
const result = await buildLayer({
  dir,
  compression: 'gzip',
  level: 6,
  sourceDateEpoch: Number(epoch ?? 1700000000),
  sink: (s) => pipeline(s, createWriteStream(out)),
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// maxRSS is in KiB (getrusage ru_maxrss on Linux).
console.log(JSON.stringify({ result, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
