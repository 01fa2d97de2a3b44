// Child process of stale.test.ts: runs `sleep` in a container until it is killed.
import { runInRootfs } from '../../../src/runtime/index.js';

const rootfs = process.argv[2] as string;
process.stdout.write('starting\n');
await runInRootfs({ rootfs, args: ['/bin/sleep', '300'] });
