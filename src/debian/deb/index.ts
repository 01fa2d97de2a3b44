// The deb part of the debian module: .deb reading, safe unpacking and the dpkg database.
// Re-exported from src/debian/index.ts (section "deb (H5)").
export { readDebLayout } from './ar.js';
export type { DebLayout, DebTarMember, ArMember, MemberCompression } from './ar.js';
export { readDebControl, readDebData } from './reader.js';
export type { DebControl, DebDataEntry, ReadDebOptions, ReadDebDataOptions } from './reader.js';
export type { Conffile, ControlFile, TriggerDirective } from './control.js';
export type { TarEntryType } from './tar.js';
export { unpackPackages, mergedUsrDirs } from './unpack.js';
export type { UnpackDeb, UnpackOptions, UnpackResult, UnpackedPackage, UnpackState } from './unpack.js';
export type { FileOverlap } from './merge.js';
export type { DpkgState } from './dpkgdb.js';
export { aptUnpack, dependencyOrder } from './apt-unpack.js';
export type { AptUnpackOptions, AptUnpackResult } from './apt-unpack.js';
