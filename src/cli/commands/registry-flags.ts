// The connection and credential flags of the registry-speaking commands (copy, inspect, tags,
// referrers). Only commander definitions: the client they configure is built by
// registry-client.ts, which the actions load when they run.
import type { Command } from 'commander';
import { collect } from '../context.js';

/** Flags every registry-speaking command takes. */
export interface RegistryFlags {
  creds?: string;
  authfile?: string;
  plainHttp?: boolean;
  insecure?: string[];
  retries?: string;
  maxPerHost?: string;
}

/** Adds the connection and credential flags. */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--creds <user:password>', 'credentials for the registries (else env LADING_REGISTRY_USER/LADING_REGISTRY_PASSWORD, auth files, credential helpers)')
    .option('--authfile <file>', 'read credentials only from this auth file (podman auth.json or docker config.json format; env REGISTRY_AUTH_FILE)')
    .option('--plain-http', 'speak plain HTTP to every registry (loopback registries always get plain HTTP)')
    .option('--insecure <host>', 'speak plain HTTP to this registry host[:port] (repeatable)', collect)
    .option('--retries <n>', 'retries per request on network errors and HTTP 408, 429, 499, 500-504 and 522', '4')
    .option('--max-per-host <n>', 'requests in flight per registry host', '6');
}
