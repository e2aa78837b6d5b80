/**
 * The one registry of Cairn's error codes.
 *
 * Every failure a user can meet carries a code from this table. The code decides the process exit
 * code (chosen only in the CLI's entry point), the HTTP status (chosen only in the API's error
 * handler) and whether a caller may retry. Codes are stable: users search for them, scripts match
 * them. Never rename or reuse a code; add new ones at the end of their group.
 *
 * Exit codes 0 (done), 1 (unexpected failure), 2 (usage), 3 (done with warnings), 10 (no
 * repository), 11 (lock failed), 12 (wrong password) and 130 (interrupted) are restic's, so scripts
 * written for it work; every other code has an exit code of its own.
 */

export interface ErrorSpec {
  /** Process exit code used by the CLI. */
  readonly exit: number;
  /** HTTP status used by the API. */
  readonly http: number;
  /** Whether repeating the same operation may succeed (transient I/O, a lock held by another). */
  readonly retryable: boolean;
  /** One line for the docs: what the code means. */
  readonly summary: string;
}

export const ERRORS = {
  INTERNAL: { exit: 1, http: 500, retryable: false, summary: 'An unexpected failure (a bug).' },
  USAGE: { exit: 2, http: 400, retryable: false, summary: 'A command line or request that is not valid.' },

  REPO_NOT_FOUND: { exit: 10, http: 404, retryable: false, summary: 'No repository at the given location.' },
  REPO_NOT_CAIRN: {
    exit: 13,
    http: 422,
    retryable: false,
    summary: 'The location holds something that is not a Cairn repository.',
  },
  REPO_EXISTS: { exit: 14, http: 409, retryable: false, summary: 'A repository already exists there.' },
  REPO_WRONG_PASSWORD: {
    exit: 12,
    // Not 401: that tells an HTTP client its own logon failed (the web UI then logs off). The
    // server's stored secret does not open the repository: like REPO_NOT_CAIRN, a repository the
    // server cannot process.
    http: 422,
    retryable: false,
    summary: 'No key slot opens with the given password or key-encryption key.',
  },
  REPO_LOCKED: {
    exit: 11,
    http: 409,
    retryable: true,
    summary: 'Another process holds a conflicting lock on the repository.',
  },
  REPO_UNSUPPORTED_VERSION: {
    exit: 15,
    http: 422,
    retryable: false,
    summary: 'The repository format version is newer than this program understands.',
  },
  REPO_NO_PASSWORD: {
    exit: 16,
    http: 400,
    retryable: false,
    summary: 'No password was given and none can be asked for (no terminal).',
  },
  KEY_LAST_SLOT: {
    exit: 17,
    http: 409,
    retryable: false,
    summary: 'The last key slot of a repository cannot be removed.',
  },
  KEY_NOT_FOUND: { exit: 18, http: 404, retryable: false, summary: 'No key slot with that id.' },

  CONFIG_CORRUPT: {
    exit: 20,
    http: 500,
    retryable: false,
    summary: 'The repository config cannot be read.',
  },
  KEY_CORRUPT: { exit: 21, http: 500, retryable: false, summary: 'A key slot file cannot be parsed.' },
  PACK_CORRUPT: {
    exit: 22,
    http: 500,
    retryable: false,
    summary: 'A pack file does not match its name or its trailer cannot be read.',
  },
  INDEX_CORRUPT: { exit: 23, http: 500, retryable: false, summary: 'An index file cannot be read.' },
  SNAPSHOT_CORRUPT: { exit: 24, http: 500, retryable: false, summary: 'A snapshot file cannot be read.' },
  BLOB_MISSING: {
    exit: 25,
    http: 500,
    retryable: false,
    summary: 'A blob that a tree or file needs is in no index.',
  },
  BLOB_CORRUPT: {
    exit: 26,
    http: 500,
    retryable: false,
    summary: 'A blob fails authentication or does not match its id.',
  },
  CHECK_FAILED: { exit: 27, http: 500, retryable: false, summary: '`check` found errors in the repository.' },
  PRUNE_UNSAFE: {
    exit: 28,
    http: 409,
    retryable: false,
    summary:
      'Prune stopped before deleting anything: it could not prove that every blob a snapshot needs stays (a needed blob is missing, or an index file or pack trailer cannot be read).',
  },
  RESTORE_INCOMPLETE: {
    exit: 29,
    http: 500,
    retryable: false,
    summary:
      'A restore finished but left out files or folders whose data is damaged or missing; the rest was restored, and the summary lists each one left out with its reason.',
  },

  SNAPSHOT_NOT_FOUND: { exit: 30, http: 404, retryable: false, summary: 'No snapshot matches the given id.' },
  SNAPSHOT_AMBIGUOUS: {
    exit: 31,
    http: 400,
    retryable: false,
    summary: 'A snapshot id prefix matches more than one snapshot.',
  },

  SOURCE_NOT_FOUND: {
    exit: 40,
    http: 400,
    retryable: false,
    summary: 'A path given for backup does not exist.',
  },
  SOURCE_UNREADABLE: {
    exit: 41,
    http: 500,
    retryable: false,
    summary: 'A source file or directory cannot be read.',
  },
  TARGET_UNWRITABLE: {
    exit: 42,
    http: 500,
    retryable: false,
    summary: 'The restore target cannot be written.',
  },
  NO_SPACE: { exit: 43, http: 507, retryable: false, summary: 'The device has no space left.' },
  SOURCE_EXIT_NONZERO: {
    exit: 44,
    http: 502,
    retryable: false,
    summary: 'A program whose output was being backed up failed (exited non-zero or was killed).',
  },
  RUN_SCRIPT_FAILED: {
    exit: 45,
    http: 502,
    retryable: false,
    summary:
      "A program run before or after a backup (--run-before, --run-after, a job's runBefore or runAfter) failed, could not be started or ran out of time; the message ends with its stderr.",
  },
  QUOTA_EXCEEDED: {
    exit: 46,
    // 507 Insufficient Storage (RFC 4918 §11.5): the account's storage cannot hold what the
    // operation needs. Not 413: nothing is wrong with the size of any request, and the same
    // request succeeds once the quota is raised or space is freed.
    http: 507,
    retryable: false,
    summary:
      "A backup stopped before it wrote its restore point: the next pack would take the tenant's stored bytes past its quota (the message names the tenant, the quota, the usage and what the backup needed). What it wrote stays for the next backup; raise the quota or forget and prune restore points.",
  },

  BACKEND_IO: {
    exit: 50,
    http: 503,
    retryable: true,
    summary: 'Reading or writing the repository storage failed.',
  },
  BACKEND_NOT_FOUND: {
    exit: 51,
    http: 500,
    retryable: false,
    summary: 'A file the repository expects in storage is absent.',
  },
  BACKEND_REFUSED: {
    exit: 52,
    http: 502,
    retryable: false,
    summary:
      'The storage refused a request for good (access denied, unknown credentials, an invalid request): retrying does not help.',
  },
  OBJECT_LOCK_UNSUPPORTED: {
    exit: 53,
    http: 422,
    retryable: false,
    summary:
      'Object lock was asked for, but the server does not implement it or the bucket was made without it.',
  },
  OBJECT_LOCKED: {
    exit: 54,
    http: 409,
    retryable: false,
    summary: 'A file is under retention (object lock) and cannot be removed until the date in the message.',
  },
  VOLUME_UNAVAILABLE: {
    exit: 55,
    http: 503,
    retryable: false,
    summary:
      "A tenant's storage root is a volume of its own (a loop-mounted XFS image) and that volume is not mounted there: nothing of the tenant is read or written until it is (the message names the tenant, the image and the mount point). `cairn server` mounts recorded volumes when it starts.",
  },
  VOLUME_UNSUPPORTED: {
    exit: 56,
    http: 422,
    retryable: false,
    summary:
      'This machine cannot make, mount or grow a tenant volume: the server does not run as root, a program (mkfs.xfs, mount, umount, losetup, xfs_growfs) is not on its PATH, or the kernel refused the loop mount (the message names the program and what it said).',
  },

  CLONE_TARGET_EXISTS: {
    exit: 60,
    http: 409,
    retryable: false,
    summary: 'The clone destination exists (use --force to replace it).',
  },
  CLONE_CROSS_DEVICE: {
    exit: 61,
    http: 422,
    retryable: false,
    summary: 'Source and destination of a clone are on different file systems.',
  },
  CLONE_UNSUPPORTED: {
    exit: 62,
    http: 422,
    retryable: false,
    summary: 'The file system cannot share blocks between files (use XFS with reflink or Btrfs).',
  },
  CLONE_UNALIGNED: {
    exit: 63,
    http: 422,
    retryable: false,
    summary: 'A range to clone does not start or end on a file system block boundary.',
  },
  CLONE_VERIFY_FAILED: {
    exit: 64,
    http: 500,
    retryable: false,
    summary: 'A clone does not read back equal to its source.',
  },
  CONFIG_INVALID: {
    exit: 70,
    http: 422,
    retryable: false,
    summary: 'The server configuration file is not valid (the message names the file, line and field).',
  },
  CATALOG_UNAVAILABLE: {
    exit: 71,
    http: 503,
    retryable: true,
    summary: 'The catalog database cannot be opened or reached.',
  },
  AUTH_REQUIRED: {
    exit: 72,
    http: 401,
    retryable: false,
    summary: 'The request carries no valid session or API key (log on first).',
  },
  AUTH_FAILED: { exit: 73, http: 401, retryable: false, summary: 'The user name or password is wrong.' },
  FORBIDDEN: {
    exit: 74,
    http: 403,
    retryable: false,
    summary:
      "The caller's role, or the limits the system administrator set for its tenant, do not allow this action.",
  },
  NOT_FOUND: { exit: 75, http: 404, retryable: false, summary: 'No object with that id (in your tenant).' },
  CONFLICT: {
    exit: 76,
    http: 409,
    retryable: false,
    summary: 'The object exists already or is in a state that forbids the action.',
  },
  TOO_LARGE: { exit: 77, http: 413, retryable: false, summary: 'The request body is larger than allowed.' },
  RATE_LIMITED: {
    exit: 78,
    http: 429,
    retryable: true,
    summary: 'Too many failed logons; wait for the time in Retry-After.',
  },
  INVALID_INPUT: {
    exit: 79,
    http: 422,
    retryable: false,
    summary: 'A request whose fields are well formed but whose values are not acceptable.',
  },

  PLUGIN_DIRECTIVE_INVALID: {
    exit: 80,
    http: 422,
    retryable: false,
    summary:
      'A plugin directive (name:key=value:...) does not parse or its options do not fit the plugin (the message names the option and its column).',
  },
  PLUGIN_NOT_FOUND: {
    exit: 81,
    http: 422,
    retryable: false,
    summary: 'No built-in plugin and no plugin in the plugin directory has that name.',
  },
  PLUGIN_FAILED: {
    exit: 82,
    http: 502,
    retryable: false,
    summary:
      "A plugin, or a program it runs (bpipe's reader or writer), failed; the message ends with its stderr.",
  },
  PLUGIN_PROTOCOL: {
    exit: 83,
    http: 502,
    retryable: false,
    summary:
      'An out-of-process plugin broke the plugin protocol (a bad frame or message, or it exited mid-run).',
  },
  PLUGIN_INCOMPATIBLE: {
    exit: 84,
    http: 422,
    retryable: false,
    summary: 'A plugin speaks no plugin API version this Cairn knows, or does not do what was asked of it.',
  },
  ADDRESS_IN_USE: {
    exit: 90,
    http: 503,
    retryable: true,
    summary:
      'The address the server is to listen on is taken (the message says by which process, where it can tell).',
  },
  INTERRUPTED: { exit: 130, http: 499, retryable: true, summary: 'The operation was cancelled.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The error every Cairn layer throws. `message` names the object and the reason. */
export class CairnError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CairnError';
    this.code = code;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}

export function isCairnError(err: unknown, code?: ErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}

/** The errno-style code of a Node system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** The operating system's errors in Cairn's words (Node's messages are the C library's). */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EEXIST: 'it already exists',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  ENOTEMPTY: 'the folder is not empty',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on the system',
  ENAMETOOLONG: 'the name is too long',
  EBUSY: 'it is busy',
  EIO: 'an input/output error of the device',
  EXDEV: 'it is on another file system',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EINVAL: 'an invalid argument to the system',
  ENOTSUP: 'the file system does not support it',
  EOPNOTSUPP: 'the file system does not support it',
  ETXTBSY: 'the file is a running program',
  EPIPE: 'the other end closed the pipe',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'it timed out',
  EHOSTUNREACH: 'the host cannot be reached',
  ENETUNREACH: 'the network cannot be reached',
  EAI_AGAIN: 'the name cannot be resolved now',
  ENOTFOUND: 'no such host',
};

/**
 * The message of any thrown value, for wrapping it in a CairnError. A system error (ENOENT...)
 * says what happened in words, with the call and path it happened to, e.g. "no such file or
 * folder (mkdir /proc/x)" rather than "ENOENT: no such file or directory, mkdir '/proc/x'".
 */
export function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errnoCode(err);
  const words = code === undefined ? undefined : ERRNO_WORDS[code];
  if (words === undefined || !err.message.startsWith(`${code}:`)) return err.message;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const where = [e.syscall, e.path, e.dest !== undefined ? `-> ${e.dest}` : undefined].filter(
    (x): x is string => typeof x === 'string' && x !== '',
  );
  return where.length > 0 ? `${words} (${where.join(' ')})` : words;
}
