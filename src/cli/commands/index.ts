// The command table: one line per command file. Each file maps flags to one library call.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as storeLs } from './store-ls.js';
import { register as storeInspect } from './store-inspect.js';
import { register as storeVerify } from './store-verify.js';
import { register as storeGc } from './store-gc.js';
import { register as imageFromDir } from './image-from-dir.js';
import { register as copy } from './copy.js';
import { register as inspect } from './inspect.js';
import { register as tags } from './tags.js';
import { register as referrers } from './referrers.js';
import { register as plan } from './plan.js';
import { register as images } from './images.js';
import { register as lock } from './lock.js';
import { register as aptResolve } from './apt-resolve.js';
import { register as aptFetch } from './apt-fetch.js';
import { register as aptUnpack } from './apt-unpack.js';
import { register as aptClean } from './apt-clean.js';
import { register as build } from './build.js';

/** Adds one command (or a group) to the program. */
export type RegisterCommand = (program: Command, ctx: () => CliContext) => void;

export const commands: RegisterCommand[] = [
  storeLs,
  storeInspect,
  storeVerify,
  storeGc,
  imageFromDir,
  copy,
  inspect,
  tags,
  referrers,
  plan,
  images,
  lock,
  aptResolve,
  aptFetch,
  aptUnpack,
  aptClean,
  build,
];
