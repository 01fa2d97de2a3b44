// bench/extract child: resolve + fetch + unpack in one process through the library API (what the
// image builder pays), over the compiled dist/ (plain JS so no TypeScript loader is timed).
// Args: CACHE SOURCES ROOT OFFLINE(0|1) PKG...
import { aptResolve, aptUnpack } from '../../dist/debian/index.js';

const [cacheDir = '', sources = '', root = '', offline = '0', ...packages] = process.argv.slice(2);
const { lock } = await aptResolve({ packages, sourcesFiles: [sources], cacheDir, offline: offline === '1' });
const result = await aptUnpack({ lock, root, cacheDir, offline: offline === '1' });
process.stdout.write(`${JSON.stringify({ packages: result.packages.length, downloaded: result.downloaded })}\n`);
