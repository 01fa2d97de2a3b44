// Runs the lading CLI from the TypeScript sources (no build needed): node --import tsx test/helpers/lading-main.ts ARGS
import { main } from '../../src/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
