// Public surface of the debian module: apt sources, verified indexes, resolver, lockfile,
// downloads (apt section) and the .deb reader, extraction, dpkg database (deb section).
export { DebianError } from './errors.js';
export type { DebianErrorCode } from './errors.js';
export { createDecompressor, compressionFromName, compressionSuffix } from './decompress.js';
export type { Compression, DecompressOptions } from './decompress.js';

// --- apt (H4) ---
export { parseDeb822, splitWords, Deb822Paragraph } from './deb822.js';
export type { Deb822Field, ParseDeb822Options } from './deb822.js';
export { parseVersion, formatVersion, compareVersions, compareParsedVersions, verrevcmp, satisfiesVersion } from './version.js';
export type { DebianVersion, ParsedVersion, VersionOperator } from './version.js';
export { parseRelations, parseRelation, formatRelation, formatGroup } from './relation.js';
export type { Relation, RelationGroup } from './relation.js';
export { loadSources, parseSourcesList, parseDeb822Sources, parseSourcesText, parseSourceTexts, parseSignedBy, selectSources, sourceName, stripCredentials } from './sources.js';
export type { AptSource, SignedBy, ParsedSources, LoadSourcesOptions, SelectSourcesOptions, SourcesText } from './sources.js';
export { loadKeyring, parseKeyring, defaultKeyringPaths } from './keyring.js';
export type { Keyring, LoadKeyringOptions } from './keyring.js';
export { parseRelease, parseReleaseDate, verifyInRelease, verifyDetachedRelease, checkRelease } from './release.js';
export type { Release, ReleaseFileEntry, VerifiedRelease, VerifyReleaseOptions, ReleaseExpectations } from './release.js';
export { AptCache } from './cache.js';
export { cleanAptCache } from './clean.js';
export type { CleanAptCacheOptions, CleanAptCacheResult, CacheEntry, CacheFileKind } from './clean.js';
export type { HttpRecord } from './cache.js';
export { createTransport, fetchRevalidated, fetchToCache, fetchIndexToCache, FetchFailure } from './http.js';
export type { Transport, TransportOptions, ExpectedFile, RevalidatedFile } from './http.js';
export { parsePackages, PackagesIndex } from './packages.js';
export type { PackageStanza, ProvidesEntry } from './packages.js';
export { Universe, compareCandidates, priorityRank } from './universe.js';
export type { Candidate, CandidateOrigin, Provider, UniverseInput } from './universe.js';
export { parsePackageRequest, resolveArchitecture } from './resolver.js';
export type { PackageRequest, SelectionReason, Selected, ArchResolution, ResolveArchitectureOptions } from './resolver.js';
export { loadAptSources, universeInputs } from './repository.js';
export type { LoadedIndex, LoadedSource, LoadedSources, LoadAptSourcesOptions } from './repository.js';
export {
  APT_LOCK_VERSION,
  AptLockSchema,
  LockedAptPackageSchema,
  LockedAptSourceSchema,
  LockedIndexSchema,
  AptRequestSchema,
  aptRequest,
  requestChecksum,
  toLock,
  serializeLock,
  parseLock,
  aptLockJsonSchema,
} from './lock.js';
export type { AptLock, LockedAptPackage, LockedAptSource, LockedIndex, AptRequest, LockInput } from './lock.js';
export { fetchPackages, packageUrl } from './download.js';
export type { FetchPackagesOptions, FetchedPackage, FetchProgress } from './download.js';
export { createPackageFetcher } from './fetcher.js';
export type { PackageFetcher, PackageFetcherOptions } from './fetcher.js';
export { resolve, aptResolve, aptFetch, lockedPackages, hostArchitecture } from './apt.js';
export type { Resolution, ResolveOptions, AptIoOptions, AptResolveOptions, AptResolveResult, AptFetchOptions } from './apt.js';

// --- deb (H5) ---
export * from './deb/index.js';
