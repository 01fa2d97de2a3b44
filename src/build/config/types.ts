// The normalised family: what the planner and the builder consume. Every default is resolved,
// every list sorted or in its meaningful order, inheritance from family parents applied to the
// container settings. The written form (./written.ts) is a different type on purpose.
import type { Digest } from '../../core/index.js';

/** A Debian architecture name (amd64, arm64, ...). */
export type DebianArch = string;

/** Project metadata; becomes OCI annotations and labels (oci-image.md section 11). */
export interface ProjectMetadata {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  /** org.opencontainers.image.vendor */
  readonly vendor?: string;
  /** org.opencontainers.image.authors */
  readonly contact?: string;
  /** SPDX expression, org.opencontainers.image.licenses */
  readonly license?: string;
  readonly url?: string;
  /** URL of the recipe, org.opencontainers.image.source */
  readonly source?: string;
  readonly documentation?: string;
  /** org.opencontainers.image.version */
  readonly version?: string;
  readonly owner?: { readonly team?: string; readonly contact?: string };
  readonly support?: SupportStatement;
}

/** Machine-readable support statement (dev.lading.support.*). */
export interface SupportStatement {
  readonly status: 'supported' | 'best-effort' | 'experimental' | 'deprecated' | 'unsupported';
  /** YYYY-MM-DD */
  readonly until?: string;
  readonly contact?: string;
  readonly statement?: string;
}

/**
 * One apt source entry of the config: a one-line `sources.list` entry kept as written, or a
 * deb822 stanza in camelCase fields. Both are parsed by the debian module (toAptSources()).
 */
export type AptSourceEntry =
  | { readonly format: 'one-line'; readonly line: string }
  | {
      readonly format: 'deb822';
      readonly types: readonly ('deb' | 'deb-src')[];
      readonly uris: readonly string[];
      readonly suites: readonly string[];
      readonly components: readonly string[];
      /** Keyring path or armored key block. */
      readonly signedBy?: string;
      readonly architectures?: readonly DebianArch[];
    };

/** Where packages come from: the machine's apt configuration, or entries of the config. */
export type SourcesConfig = { readonly kind: 'machine' } | { readonly kind: 'inline'; readonly entries: readonly AptSourceEntry[] };

/** What an image is built on. */
export type ImageBase =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'image'; readonly name: string }
  | {
      readonly kind: 'external';
      /** As written, e.g. `docker.io/library/debian:bookworm@sha256:...`. */
      readonly reference: string;
      readonly registry: string;
      readonly repository: string;
      readonly tag?: string;
      readonly digest: Digest;
    };

/** A user or group given as a number, or as a name resolved in the image at build time. */
export type IdRef = number | string;

/** A file or tree copied from the build context. */
export interface FileSpec {
  /** Normalised relative path in the build context (no `..`, no leading `/`). */
  readonly src: string;
  /** Absolute normalised path in the image. */
  readonly dest: string;
  /** Permission bits; undefined = 0644, or 0755 when the source is executable (trees: per entry). */
  readonly mode?: number;
  readonly owner: { readonly user: IdRef; readonly group: IdRef };
}

/** A directory created in the image. */
export interface DirectorySpec {
  readonly path: string;
  readonly mode: number;
  readonly owner: { readonly user: IdRef; readonly group: IdRef };
}

/** A symbolic link created in the image. */
export interface SymlinkSpec {
  readonly path: string;
  readonly target: string;
}

/** An account added to the image's /etc/passwd (and /etc/shadow). */
export interface UserSpec {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly string[];
  readonly home: string;
  readonly shell: string;
  readonly system: boolean;
  readonly comment: string;
}

/** A group added to /etc/group. `implicit` groups are the private groups of users. */
export interface GroupSpec {
  readonly name: string;
  readonly gid: number;
  readonly system: boolean;
  readonly implicit: boolean;
}

/** One `run` step, executed in the image's rootfs by src/runtime. */
export interface RunStepSpec {
  readonly name: string;
  /** Either a shell script (run as `/bin/sh -e -c SCRIPT`) ... */
  readonly script?: string;
  /** ... or a program and its arguments (exactly one of the two is set). */
  readonly args?: readonly string[];
  readonly network: boolean;
  readonly timeoutSeconds: number;
  /** Name, uid or uid:gid; default root. */
  readonly user: string;
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
}

/**
 * Health check. NOTE: OCI image configs have no health check field (oci-image.md section 5:
 * Docker's `Healthcheck` is not in the OCI schema), so the builder stores it as JSON in the
 * `dev.lading.healthcheck` label, where tools that know lading can read it.
 */
export interface HealthcheckSpec {
  /** Docker's convention: ["CMD", ...] or ["CMD-SHELL", "..."]. */
  readonly test: readonly string[];
  readonly intervalSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly startPeriodSeconds?: number;
  readonly retries?: number;
}

/** Image config settings (OCI config.*). Effective = parent's with this image's on top. */
export interface ContainerSettings {
  /** Sorted by key. */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `port/proto`, sorted. */
  readonly ports: readonly string[];
  /** Sorted absolute paths. */
  readonly volumes: readonly string[];
  readonly stopSignal?: string;
  readonly healthcheck?: HealthcheckSpec;
  /** Config labels, without volatile ones. */
  readonly labels: Readonly<Record<string, string>>;
}

/** What one image declares for itself (before inheritance). */
export interface OwnSettings {
  readonly env: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  /** `null`: this image clears an inherited value. */
  readonly entrypoint?: readonly string[] | null;
  readonly cmd?: readonly string[] | null;
  readonly ports: readonly string[];
  readonly volumes: readonly string[];
  readonly stopSignal?: string;
  readonly healthcheck?: HealthcheckSpec | null;
  readonly labels: Readonly<Record<string, string>>;
}

/** One image of the family, normalised. */
export interface ImageConfig {
  readonly name: string;
  readonly description?: string;
  readonly from: ImageBase;
  /** Family ancestors, nearest first ([] for scratch and external bases). */
  readonly ancestors: readonly string[];
  /** Family images built FROM this one, sorted. */
  readonly children: readonly string[];
  /** Architectures this image is built for (the family's, or the image's subset). */
  readonly architectures: readonly DebianArch[];
  /** This image's own packages per architecture: sorted, deduplicated (not the ancestors'). */
  readonly packages: Readonly<Record<DebianArch, readonly string[]>>;
  /** Add Debian's Essential set (true only for images from scratch without noEssential). */
  readonly essential: boolean;
  /** Sorted by dest. */
  readonly files: readonly FileSpec[];
  /** Sorted by path. */
  readonly directories: readonly DirectorySpec[];
  /** Sorted by path. */
  readonly symlinks: readonly SymlinkSpec[];
  /** Sorted by uid. */
  readonly users: readonly UserSpec[];
  /** Sorted by gid; includes implicit user-private groups. */
  readonly groups: readonly GroupSpec[];
  /** In execution order. */
  readonly run: readonly RunStepSpec[];
  readonly maintainerScripts: 'run' | 'skip';
  /** What this image declares itself. */
  readonly own: OwnSettings;
  /**
   * Settings after inheritance from family ancestors. For an external base, the builder applies
   * these over the base image's own config.
   */
  readonly effective: ContainerSettings;
  /** Manifest annotations of this image (not inherited), without volatile ones. Sorted. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Labels and annotations marked volatile: applied when built, never hashed, never inherited. */
  readonly volatile: { readonly labels: Readonly<Record<string, string>>; readonly annotations: Readonly<Record<string, string>> };
}

/** Layer compression. */
export interface CompressionConfig {
  readonly algorithm: 'gzip' | 'zstd';
  /** undefined: the writer's default. */
  readonly level?: number;
}

/** How the images' timestamps (config `created`, tar mtimes clamp) are chosen. */
export type EpochPolicy = { readonly kind: 'packages' } | { readonly kind: 'fixed'; readonly seconds: number };

/** The normalised family: lading.yaml with its site overrides applied. */
export interface FamilyConfig {
  readonly format: 1;
  readonly project: ProjectMetadata;
  readonly sources: SourcesConfig;
  /** Only these suites of the sources; undefined = all. */
  readonly suites?: readonly string[];
  readonly architectures: readonly DebianArch[];
  readonly compression: CompressionConfig;
  readonly sourceDateEpoch: EpochPolicy;
  /** Images by name (keys sorted). */
  readonly images: Readonly<Record<string, ImageConfig>>;
  /** Every image, parents before children, ties by name. */
  readonly order: readonly string[];
  /** Profiles as declared (globs expanded), sorted; selecting one adds ancestors. */
  readonly profiles: Readonly<Record<string, readonly string[]>>;
  /** The files this was read from: the config, then each override in order. */
  readonly origin: { readonly config: string; readonly overrides: readonly string[] };
}
