#!/usr/bin/env node
// Thin shim: the CLI lives in the compiled library (npm run build).
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
