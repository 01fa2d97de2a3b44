// The written form of lading.yaml and of site overrides: zod schemas, the TypeScript types they
// infer, and the JSON Schemas generated from them (scripts/gen-schemas.ts -> schemas/).
// The normalised form the builder consumes is a different type (./types.ts).
import { z } from 'zod';

/** Debian architecture names lading knows (dpkg-architecture -L, release architectures). */
export const DEBIAN_ARCHITECTURES = ['amd64', 'arm64', 'armel', 'armhf', 'i386', 'mips64el', 'ppc64el', 'riscv64', 's390x'] as const;

/** Image names: usable as a repository path component (distribution-spec name grammar). */
export const IMAGE_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/**
 * Debian package names (Debian Policy 5.6.1), optionally qualified with `:any`, `:native` or an
 * architecture (then requested only when resolving that architecture, docs/apt.md).
 */
export const PACKAGE_NAME = new RegExp(`^[a-z0-9][a-z0-9+.-]+(?::(?:any|native|${DEBIAN_ARCHITECTURES.join('|')}))?$`);
/** Run step, user and group names. */
export const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
// The same, written with at least one number and unit (one rule, so bad text gets one message).
const DURATION_TEXT = /^(?=\d+[hms])(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;

// The signal names runc and Docker accept (x/sys/unix), real-time ones as SIGRTMIN+n / SIGRTMAX-n.
const STOP_SIGNAL =
  /^(?:SIG(?:ABRT|ALRM|BUS|CHLD|CONT|FPE|HUP|ILL|INT|IO|IOT|KILL|PIPE|POLL|PROF|PWR|QUIT|SEGV|STKFLT|STOP|SYS|TERM|TRAP|TSTP|TTIN|TTOU|URG|USR1|USR2|VTALRM|WINCH|XCPU|XFSZ|RTMIN|RTMAX|RTMIN\+(?:[1-9]|1[0-5])|RTMAX-(?:[1-9]|1[0-5]))|[1-9]|[1-5]\d|6[0-4])$/;
const SIGNAL_MSG = 'expected a Linux signal name such as SIGTERM or SIGRTMIN+3, or a number from 1 to 64';
const DURATION_MSG = 'expected seconds (an integer) or a duration such as "90s", "10m", "1h30m"';
const MODE_MSG = 'expected a quoted octal mode such as "0755", or 0o755';
const PORT_MSG = 'expected a port number or "PORT/tcp", "PORT/udp", "PORT/sctp"';
const PKG_MSG = 'expected a Debian package name (lower case, digits, + - .), optionally with :ARCH (a Debian architecture, any or native)';
const NAME_MSG = 'expected letters, digits, . _ - (starting with a letter or digit)';
const IMAGE_MSG = 'expected lower-case letters, digits and single . _ - separators';

const str = (description: string) => z.string().min(1).describe(description);
const scalarValue = z.union([z.string(), z.number(), z.boolean()]);

/** Longest duration accepted: far below what a Node timer can hold (~24.8 days). */
export const MAX_DURATION_SECONDS = 7 * 24 * 3600;

/** Seconds of a written duration (an integer, or "1h30m" and the like). */
export function durationSeconds(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = DURATION.exec(v);
  return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : 0;
}

function wellFormedDuration(v: unknown): v is number | string {
  return (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DURATION_SECONDS) || (typeof v === 'string' && DURATION_TEXT.test(v));
}

const Duration = z
  .union([z.number().int().min(1).max(MAX_DURATION_SECONDS), z.string().regex(DURATION_TEXT, { error: DURATION_MSG })], { error: DURATION_MSG })
  // Runs after a failed union too: judge only what the union accepts, so bad text gets one message.
  .refine((v) => !wellFormedDuration(v) || (durationSeconds(v) >= 1 && durationSeconds(v) <= MAX_DURATION_SECONDS), { error: 'expected a duration from 1s to 168h (7 days)' })
  .describe('Seconds as an integer, or a duration such as "90s", "10m", "1h30m"; from 1s to 168h.');

const Mode = z
  .union([z.string().regex(/^0?[0-7]{3,4}$/, { error: MODE_MSG }), z.number().int().min(0).max(0o7777)], { error: MODE_MSG })
  .describe('Permission bits: a quoted octal string ("0755", "644") or a YAML 1.2 octal number (0o755). An unquoted 755 or 0755 is refused as ambiguous.');

const USER_SPEC = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const USER_MSG = 'expected a user name or uid, optionally with ":group" or ":gid"';

const Owner = z
  .string()
  .regex(USER_SPEC, { error: 'expected "uid:gid" or "user:group"' })
  .describe('"uid:gid" (numbers), or "user:group" names resolved in the image at build time. Default "0:0".');

/** Prefix of the labels and annotations lading defines (oci-image.md section 11: reverse-DNS). */
export const LADING_KEY_PREFIX = 'dev.lading.';

/** `org.opencontainers.image.*` keys a config may set (the rest are lading's: created, base.*, ref.name). */
export const USER_SETTABLE_OCI_KEYS: readonly string[] = ['title', 'description', 'version', 'url', 'documentation', 'source', 'revision', 'vendor', 'licenses', 'authors'].map(
  (k) => `org.opencontainers.image.${k}`,
);

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Rules normalise() checks with its own messages, stated again for the JSON Schema only
// (`.meta` reaches the generated schema, not the parse), so editors refuse what lading refuses.
const ENV_KEYS = { propertyNames: { pattern: ENV_NAME.source } };
const IMAGE_KEYS = { propertyNames: { pattern: IMAGE_NAME.source } };
const LABEL_KEYS = {
  propertyNames: {
    pattern: `^(?!${LADING_KEY_PREFIX.replace(/\./g, '\\.')})(?!org\\.opencontainers\\.(?!image\\.(?:${USER_SETTABLE_OCI_KEYS.map((k) => k.slice('org.opencontainers.image.'.length)).join('|')})$))\\S+$`,
  },
};
const ABSOLUTE = { pattern: '^/' };
const PORT_TEXT = { pattern: '^0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])(?:/(?:tcp|udp|sctp))?$' };
// A run step has exactly one of script and args.
const ONE_COMMAND = { oneOf: [{ required: ['script'] }, { required: ['args'] }] };
const CALENDAR_DATE = { pattern: '^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$' };

const StringMap = z.record(z.string(), scalarValue);

const LabelValue = z.union(
  [
    scalarValue,
    z.strictObject({
      value: scalarValue.describe('The value.'),
      volatile: z.boolean().optional().describe('When true, the value is left out of the input hash: changing it alone rebuilds nothing, and a reused image keeps the value of the build that made it.'),
    }),
  ],
  { error: 'expected a string, or {value, volatile}' },
);
const LabelMap = z.record(z.string(), LabelValue).meta(LABEL_KEYS);

/** `packages`: a list, or a map of `all` / architecture -> list. */
const Packages = z
  .union([
    z.array(z.string().regex(PACKAGE_NAME, { error: PKG_MSG })),
    z.partialRecord(z.enum(['all', ...DEBIAN_ARCHITECTURES]), z.array(z.string().regex(PACKAGE_NAME, { error: PKG_MSG }))),
  ], { error: 'expected a list of package names, or a map of "all" or architecture names to lists' })
  .describe('Debian packages installed in this image (with their dependencies), as a list, or a map of "all" and architecture names to lists.');

const FileEntry = z.strictObject({
  src: str('Path in the build context (relative, no ".."). A directory is copied recursively.'),
  dest: str('Absolute destination path in the image.'),
  mode: Mode.optional(),
  owner: Owner.optional(),
});

const DirectoryEntry = z.strictObject({
  path: str('Absolute path of the directory in the image.'),
  mode: Mode.optional(),
  owner: Owner.optional(),
});

const SymlinkEntry = z.strictObject({
  path: str('Absolute path of the link in the image.'),
  target: str('Link target, absolute or relative, written as is.'),
});

// /etc/passwd fields are separated by ':' and lines: a field holding either would forge entries.
/* eslint-disable no-control-regex -- control characters are exactly what these refuse */
const PASSWD_TEXT = /^[^:\u0000-\u001f\u007f]*$/;
const PASSWD_PATH = /^\/[^:\u0000-\u001f\u007f]*$/;
/* eslint-enable no-control-regex */
const PASSWD_PATH_MSG = "expected an absolute path without ':' or control characters";

const UserEntry = z.strictObject({
  name: z.string().regex(STEP_NAME, { error: NAME_MSG }).describe('User name.'),
  uid: z.number().int().min(0).max(2 ** 31 - 1).describe('Fixed numeric uid (reproducible: never allocated).'),
  gid: z.number().int().min(0).max(2 ** 31 - 1).optional().describe('Primary group id. Default: the uid; a group named after the user is created when no group has that gid.'),
  groups: z.array(z.string().regex(STEP_NAME, { error: NAME_MSG })).optional().describe('Supplementary group names.'),
  home: z.string().regex(PASSWD_PATH, { error: PASSWD_PATH_MSG }).optional().describe('Home directory (absolute). Default /nonexistent for system users, /home/<name> otherwise.'),
  shell: z.string().regex(PASSWD_PATH, { error: PASSWD_PATH_MSG }).optional().describe('Login shell (absolute). Default /usr/sbin/nologin.'),
  system: z.boolean().optional().describe('A system account (default true).'),
  comment: z.string().regex(PASSWD_TEXT, { error: "expected text without ':' or control characters (newlines, tabs)" }).optional().describe('GECOS field.'),
});

const GroupEntry = z.strictObject({
  name: z.string().regex(STEP_NAME, { error: NAME_MSG }).describe('Group name.'),
  gid: z.number().int().min(0).max(2 ** 31 - 1).describe('Fixed numeric gid.'),
  system: z.boolean().optional().describe('A system group (default true).'),
});

const RunStep = z.strictObject({
  name: z.string().regex(STEP_NAME, { error: NAME_MSG }).describe('Unique within the image; overrides address steps by name.'),
  script: z.string().optional().describe('Shell script run with /bin/sh -e. Exactly one of script and args.'),
  args: z.array(z.string()).min(1).optional().describe('Program and arguments, run without a shell.'),
  network: z.boolean().optional().describe('Give the step network access (default false).'),
  timeout: Duration.optional().describe('Time limit (default 10m).'),
  user: z.string().regex(USER_SPEC, { error: USER_MSG }).optional().describe('User to run as: name, uid or uid:gid (default root).'),
  env: StringMap.meta(ENV_KEYS).optional().describe('Extra environment for this step only (not stored in the image).'),
  workdir: z.string().meta(ABSOLUTE).optional().describe('Working directory (absolute; default /).'),
}).meta(ONE_COMMAND);

const Healthcheck = z.strictObject({
  test: z.union([z.array(z.string()).min(1), z.string().regex(/\S/, { error: 'the command is empty' })], { error: 'expected a command as a list or a string' }).describe('Command as a list (exec form) or a string (run by /bin/sh -c).'),
  interval: Duration.optional(),
  timeout: Duration.optional(),
  startPeriod: Duration.optional(),
  retries: z.number().int().min(0).optional(),
});

const Port = z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d{1,5}(?:\/(?:tcp|udp|sctp))?$/, { error: PORT_MSG }).meta(PORT_TEXT)], {
  error: PORT_MSG,
});

const imageFields = {
  from: str('Base: another image of this family, an external image pinned by digest (registry/repo[:tag]@sha256:...), or "scratch".'),
  description: z.string().optional().describe('One line; becomes org.opencontainers.image.description.'),
  architectures: z.array(z.enum(DEBIAN_ARCHITECTURES)).min(1).optional().describe('Build only for these (a subset of the family\'s and of the parent\'s).'),
  packages: Packages.optional(),
  noEssential: z.boolean().optional().describe('For images from scratch: do not add Debian\'s Essential set.'),
  files: z.array(FileEntry).optional().describe('Files and directories copied from the build context.'),
  directories: z.array(DirectoryEntry).optional().describe('Directories created in the image.'),
  symlinks: z.array(SymlinkEntry).optional().describe('Symbolic links created in the image.'),
  users: z.array(UserEntry).optional().describe('Accounts added to /etc/passwd.'),
  groups: z.array(GroupEntry).optional().describe('Groups added to /etc/group.'),
  env: StringMap.meta(ENV_KEYS).optional().describe('Environment of the image config (inherited; a child overrides keys).'),
  workdir: z.string().meta(ABSOLUTE).optional().describe('Working directory (absolute).'),
  user: z.string().regex(USER_SPEC, { error: USER_MSG }).optional().describe('User the container runs as: name, uid, name:group or uid:gid.'),
  entrypoint: z.array(z.string()).nullable().optional().describe('Exec-form entrypoint. Setting it clears an inherited cmd; null clears an inherited entrypoint.'),
  cmd: z.array(z.string()).nullable().optional().describe('Exec-form default arguments; null clears an inherited cmd.'),
  ports: z.array(Port).optional().describe('Exposed ports: 8080, "8080/tcp", "53/udp".'),
  volumes: z.array(z.string().meta(ABSOLUTE)).optional().describe('Absolute paths declared as volumes.'),
  labels: LabelMap.optional().describe('Image config labels (inherited by children).'),
  annotations: LabelMap.optional().describe('Manifest annotations of this image (not inherited).'),
  healthcheck: Healthcheck.nullable().optional().describe('Stored as the dev.lading.healthcheck label (OCI configs have no health check field).'),
  stopSignal: z
    .union([z.string().regex(STOP_SIGNAL, { error: SIGNAL_MSG }), z.number({ error: SIGNAL_MSG }).int({ error: SIGNAL_MSG }).min(1, { error: SIGNAL_MSG }).max(64, { error: SIGNAL_MSG })], { error: SIGNAL_MSG })
    .optional()
    .describe('Signal that stops the container: a name such as SIGTERM, or a number from 1 to 64.'),
  run: z.array(RunStep).optional().describe('Ordered steps run in the image\'s root filesystem after its packages are configured.'),
  maintainerScripts: z.enum(['run', 'skip']).optional().describe('Run the packages\' maintainer scripts (dpkg --configure -a). Default run.'),
};

/** One image of the family, as written. */
export const WrittenImageSchema = z.strictObject(imageFields);

const SupportStatus = z.enum(['supported', 'best-effort', 'experimental', 'deprecated', 'unsupported']);

const ProjectSchema = z.strictObject({
  name: z.string().regex(IMAGE_NAME, { error: IMAGE_MSG }).describe('Family name (lower case, digits, . _ -).'),
  title: z.string().optional().describe('Human-readable title.'),
  description: z.string().optional(),
  vendor: z.string().optional().describe('Distributing entity (org.opencontainers.image.vendor).'),
  contact: z.string().optional().describe('Contact of the maintainers (org.opencontainers.image.authors).'),
  license: z.string().optional().describe('SPDX license expression (org.opencontainers.image.licenses).'),
  url: z.string().optional().describe('Home page (org.opencontainers.image.url).'),
  source: z.string().optional().describe('URL of this recipe (org.opencontainers.image.source).'),
  documentation: z.string().optional().describe('URL of the documentation (org.opencontainers.image.documentation).'),
  version: z.union([z.string(), z.number()]).optional().describe('Version of the family (org.opencontainers.image.version).'),
  owner: z
    .strictObject({
      team: z.string().optional().describe('Owning team (dev.lading.owner.team).'),
      contact: z.string().optional().describe('How to reach the team (dev.lading.owner.contact).'),
    })
    .optional(),
  support: z
    .strictObject({
      status: SupportStatus.describe('supported | best-effort | experimental | deprecated | unsupported'),
      until: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'expected a date YYYY-MM-DD' }).meta(CALENDAR_DATE).optional().describe('End of support, YYYY-MM-DD.'),
      contact: z.string().optional().describe('Where to report problems.'),
      statement: z.string().optional().describe('Free text: what the support covers.'),
    })
    .optional()
    .describe('Machine-readable support statement (dev.lading.support.* annotations and labels).'),
});

const Deb822Source = z.strictObject({
  types: z.array(z.enum(['deb', 'deb-src'])).min(1).optional().describe('Default [deb].'),
  uris: z.array(z.string().min(1)).min(1),
  suites: z.array(z.string().min(1)).min(1),
  components: z.array(z.string().min(1)).optional().describe('Required: lading uses only sources with a dists/ tree (flat repositories, a suite ending in "/", are refused).'),
  signedBy: z.string().min(1).optional().describe('Keyring path, or an armored public key block.'),
  architectures: z.array(z.enum(DEBIAN_ARCHITECTURES)).optional(),
});

const Sources = z
  .union([z.literal('machine'), z.array(z.union([z.string().min(1), Deb822Source], { error: 'expected a one-line source string or a deb822-style map' })).min(1)], {
    error: 'expected "machine" or a list of sources',
  })
  .describe('"machine" (the default: /etc/apt/sources.list and sources.list.d of the machine running lading), or a list of one-line entries ("deb [signed-by=...] URI SUITE COMPONENT...") and deb822-style maps.');

// One branch per algorithm, so the JSON Schema knows gzip stops at level 9 as the loader does.
const Compression = z.union(
  [
    z.enum(['gzip', 'zstd']),
    z.discriminatedUnion('algorithm', [
      z.strictObject({ algorithm: z.literal('gzip'), level: z.number().int().min(1).max(9).optional() }),
      z.strictObject({ algorithm: z.literal('zstd'), level: z.number().int().min(1).max(19).optional() }),
    ], { error: 'expected one of gzip, zstd' }),
  ],
  { error: 'expected gzip, zstd, or {algorithm, level}' },
);

// 9999-12-31T23:59:59Z: the last time an RFC 3339 date (four-digit year) can express.
const MAX_EPOCH = 253402300799;

const familyFields = {
  format: z.literal(1).optional().describe('Version of this file format (1).'),
  project: ProjectSchema,
  sources: Sources.optional(),
  suites: z.array(z.string().min(1)).min(1).optional().describe('Use only these suites of the sources (e.g. [bookworm, bookworm-updates, bookworm-security]).'),
  architectures: z.array(z.enum(DEBIAN_ARCHITECTURES)).min(1).optional().describe('Debian architecture names. Default: the architecture of the machine running lading.'),
  compression: Compression.optional().describe('Layer compression: gzip (default) or zstd, optionally {algorithm, level}.'),
  sourceDateEpoch: z
    .union([z.literal('packages'), z.number().int().min(0).max(MAX_EPOCH)], { error: 'expected "packages" or integer seconds since 1970 (up to 253402300799, the end of year 9999)' })
    .optional()
    .describe('Timestamp of the images: "packages" (default: the newest file date among the image\'s packages) or fixed integer seconds.'),
  profiles: z.record(z.string().regex(STEP_NAME, { error: NAME_MSG }), z.array(z.string().min(1))).optional().describe('Named image sets; selecting an image brings its ancestors. Entries are image names or globs ("nova-*").'),
  images: z.record(z.string(), WrittenImageSchema).meta(IMAGE_KEYS).describe('The images, by name.'),
};

/** lading.yaml as written. */
export const WrittenFamilySchema = z.strictObject(familyFields).meta({
  title: 'lading.yaml',
  description: 'A family of container images built from Debian packages by lading. Reference: docs/config.md.',
});

// --- site overrides -------------------------------------------------------------------------

const listEdit = <T extends z.ZodType, K extends z.ZodType>(item: T, key: K, keyed: boolean) =>
  z.strictObject({
    set: z.array(item).optional().describe('Replace the whole list.'),
    remove: z.array(key).optional().describe(keyed ? 'Remove entries by name/path.' : 'Remove these values.'),
    ...(keyed ? { replace: z.array(item).optional().describe('Replace entries with the same name/path.') } : {}),
    add: z.array(item).optional().describe('Append entries.'),
  });

const OverrideRunStep = RunStep.extend({
  before: z.string().optional().describe('Insert before this step (add only).'),
  after: z.string().optional().describe('Insert after this step (add only).'),
}).meta({ ...ONE_COMMAND, not: { required: ['before', 'after'] } });

const PackagesEdit = z.strictObject({
  set: Packages.optional().describe('Replace the image\'s own package list.'),
  remove: Packages.optional().describe('Remove these from the image\'s own list.'),
  add: Packages.optional().describe('Add these.'),
});

// No key patterns here: removing a key (null) that could never be set is a harmless no-op.
const NullableLabelMap = z.record(z.string(), z.union([LabelValue, z.null()]));
const NullableStringMap = z.record(z.string(), z.union([scalarValue, z.null()]));

/** Changes one site override makes to one image. */
export const ImagePatchSchema = z.strictObject({
  from: imageFields.from.optional(),
  description: imageFields.description,
  architectures: imageFields.architectures,
  noEssential: imageFields.noEssential,
  workdir: imageFields.workdir,
  user: imageFields.user,
  entrypoint: imageFields.entrypoint,
  cmd: imageFields.cmd,
  healthcheck: imageFields.healthcheck,
  stopSignal: imageFields.stopSignal,
  maintainerScripts: imageFields.maintainerScripts,
  packages: PackagesEdit.optional(),
  ports: listEdit(Port, Port, false).optional(),
  volumes: listEdit(z.string(), z.string(), false).optional(),
  files: listEdit(FileEntry, z.string(), true).optional().describe('Files, addressed by dest.'),
  directories: listEdit(DirectoryEntry, z.string(), true).optional().describe('Directories, addressed by path.'),
  symlinks: listEdit(SymlinkEntry, z.string(), true).optional().describe('Links, addressed by path.'),
  users: listEdit(UserEntry, z.string(), true).optional().describe('Users, addressed by name.'),
  groups: listEdit(GroupEntry, z.string(), true).optional().describe('Groups, addressed by name.'),
  // before/after place added steps only: set and replace keep positions, so they refuse them.
  run: listEdit(RunStep, z.string(), true)
    .extend({ add: z.array(OverrideRunStep).optional().describe('Append steps, or insert them before/after a named step.') })
    .optional()
    .describe('Run steps, addressed by name; add takes before/after.'),
  env: NullableStringMap.optional().describe('Merged key by key; null removes a key.'),
  labels: NullableLabelMap.optional().describe('Merged key by key; null removes a key.'),
  annotations: NullableLabelMap.optional().describe('Merged key by key; null removes a key.'),
});

/** A site override file (`lading plan -o site.yaml`), as written. */
export const WrittenOverrideSchema = z
  .strictObject({
    format: familyFields.format,
    project: ProjectSchema.partial().extend({
      owner: ProjectSchema.shape.owner,
      support: z
        .strictObject({
          status: SupportStatus.optional(),
          until: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'expected a date YYYY-MM-DD' }).meta(CALENDAR_DATE).optional(),
          contact: z.string().optional(),
          statement: z.string().optional(),
        })
        .optional(),
    }).optional().describe('Merged field by field over the project metadata.'),
    sources: familyFields.sources.describe('Replaces the sources.'),
    suites: familyFields.suites,
    architectures: familyFields.architectures,
    compression: familyFields.compression,
    sourceDateEpoch: familyFields.sourceDateEpoch,
    profiles: z.record(z.string().regex(STEP_NAME, { error: NAME_MSG }), z.union([z.array(z.string().min(1)), z.null()])).optional().describe('Adds or replaces profiles; null removes one.'),
    allImages: z
      .strictObject({ env: NullableStringMap.optional(), labels: NullableLabelMap.optional(), annotations: NullableLabelMap.optional() })
      .optional()
      .describe('Labels, annotations and env set on every image (merged before per-image changes).'),
    images: z.record(z.string(), ImagePatchSchema).optional().describe('Changes to existing images, by name.'),
    addImages: z.record(z.string(), WrittenImageSchema).meta(IMAGE_KEYS).optional().describe('New images added to the family.'),
  })
  .meta({ title: 'lading site override', description: 'Site-specific changes merged over lading.yaml (lading plan/build -o FILE). Reference: docs/config.md.' });

/** lading.yaml as written (inferred from the schema). */
export type WrittenFamily = z.infer<typeof WrittenFamilySchema>;
/** One image as written. */
export type WrittenImage = z.infer<typeof WrittenImageSchema>;
/** A site override file as written. */
export type WrittenOverride = z.infer<typeof WrittenOverrideSchema>;
/** Changes to one image in a site override. */
export type ImagePatch = z.infer<typeof ImagePatchSchema>;
/** A written label/annotation value. */
export type WrittenLabelValue = z.infer<typeof LabelValue>;
/** A written packages field. */
export type WrittenPackages = z.infer<typeof Packages>;
/** A written run step. */
export type WrittenRunStep = z.infer<typeof RunStep>;
/** A written run step in an override `add` (may say where it goes). */
export type WrittenOverrideRunStep = z.infer<typeof OverrideRunStep>;
/** A written source entry. */
export type WrittenSource = string | z.infer<typeof Deb822Source>;
