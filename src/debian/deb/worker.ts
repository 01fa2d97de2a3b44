// Worker thread entry for stage 1 (extract.ts). Runs one package at a time with synchronous
// file calls, which cost far less per call than the thread-pool round trip of async ones, and
// keeps one `xz -dc` process for all of its packages.
import { parentPort } from 'node:worker_threads';
import { isBaseError } from '../../core/index.js';
import { XzPipe } from './decode.js';
import { stagePackage, type StageOptions } from './extract.js';

/** A job sent to a worker. */
export interface WorkerJob {
  type: 'job';
  index: number;
  debPath: string;
  /** This worker's staging directory; file names there start with `<index>.` */
  stageDir: string;
  options: Omit<StageOptions, 'signal'>;
}

/** A failure as it crosses the thread boundary. */
export interface WorkerFailure {
  code?: string;
  message: string;
  hint?: string;
}

const port = parentPort;
if (port) {
  const xz = new XzPipe();
  port.on('message', (msg: WorkerJob | { type: 'close' }) => {
    if (msg.type === 'close') {
      xz.close();
      port.close();
      return;
    }
    stagePackage(msg.debPath, msg.stageDir, `${msg.index}.`, xz, msg.options).then(
      (staged) => port.postMessage({ type: 'done', index: msg.index, staged: { ...staged, control: staged.control.fields } }),
      (err: unknown) => {
        xz.kill();
        const failure: WorkerFailure = isBaseError(err)
          ? { code: err.code, message: err.message, hint: err.hint }
          : { message: err instanceof Error ? err.message : String(err) };
        port.postMessage({ type: 'failed', index: msg.index, failure });
      },
    );
  });
}
