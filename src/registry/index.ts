// Public surface of registry: references and endpoints, the distribution-spec client
// (RegistryClient + RegistryRepository, a ContentTarget), auth and credentials, referrers,
// and the copy engine. Imports only core and oci.
export { RegistryError, SPEC_ERROR_CODES, isTemporary, isTemporaryStatus } from './errors.js';
export type { RegistryErrorCode, SpecErrorCode, RegistryErrorOptions } from './errors.js';
export { parseCopyReference, registryBaseUrl, isLoopbackHost, apiHost } from './reference.js';
export type { CopyReference, ParseCopyReferenceOptions, EndpointOptions } from './reference.js';
export { parseChallenges, pickChallenge, parseScope, normalizeScopes, scopesCover, repositoryScope } from './challenge.js';
export type { Challenge } from './challenge.js';
export { parseRateLimit, parseRetryAfter } from './ratelimit.js';
export type { RateLimit } from './ratelimit.js';
export { createCredentialProvider, runCredentialHelper, parseCredentialPair, authKeys, helperServerUrl, credentialFiles } from './credentials.js';
export type { Credential, CredentialProvider, CredentialSourceOptions, CredentialHelperOptions } from './credentials.js';
export { Authenticator } from './auth.js';
export type { AuthenticatorOptions, AuthStats, AuthTarget } from './auth.js';
export { RegistryClient, errorFromResponse, readBodyCapped } from './client.js';
export type { RegistryClientOptions, RegistryRetryOptions, RetryInfo, RequestSpec, HttpResult } from './client.js';
export { RegistryRepository, parseReferrersIndex, parseUploadRange, nextLink } from './repository.js';
export type { RegistryIoOptions, FetchedManifest, PutManifestResult } from './repository.js';
export { fallbackTag, referrerDescriptor, listReferrers, recordReferrer } from './referrers.js';
export type { ReferrersMode, ListReferrersOptions } from './referrers.js';
export { copyImages, copyImage, parsePlatform } from './copy.js';
export type { CopyItem, CopyOptions, CopyReport, ImageCopyResult, ImageProgress, PlatformSelector } from './copy.js';
export { openRepository, inspectTarget } from './api.js';
export type { OpenRepositoryOptions, InspectResult, InspectOptions } from './api.js';
