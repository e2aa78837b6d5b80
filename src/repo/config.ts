/**
 * The repository config: a plaintext envelope (magic, version, id) around a sealed body with the
 * parameters every writer must agree on. The envelope lets a program say "this is a Cairn
 * repository of version N" before it has a key; the body keeps the chunker secret secret.
 */
import { CairnError, errnoCode } from '../errors.ts';
import type { Backend } from '../backend/index.ts';
import type { MasterKey } from '../crypto/index.ts';
import type { ChunkerParams } from '../chunker/index.ts';
import type { CompressOptions } from '../compress/index.ts';
import { DecryptError } from '../crypto/index.ts';
import { FORMAT_MAGIC, FORMAT_VERSION, openFile, sealFile } from './format.ts';

export interface RepoConfig {
  readonly version: number;
  readonly id: string;
  readonly created: string;
  readonly chunker: ChunkerParams & { readonly secret: string };
  /** Target pack size in bytes: a pack is closed once it reaches this. */
  readonly packSize: number;
  /** Data blobs of 64 KiB or more start at a multiple of this (1 = dense). */
  readonly alignment: number;
  readonly compression: CompressOptions;
  readonly idAlgorithm: 'hmac-sha256';
}

interface Envelope {
  readonly format: string;
  readonly version: number;
  readonly id: string;
  readonly sealed: string;
}

export async function writeConfig(backend: Backend, key: MasterKey, config: RepoConfig): Promise<void> {
  const sealed = sealFile(key, 'config', Buffer.from(JSON.stringify(config)));
  const envelope: Envelope = {
    format: FORMAT_MAGIC,
    version: config.version,
    id: config.id,
    sealed: sealed.toString('base64'),
  };
  await backend.write({ type: 'config', name: 'config' }, [
    Buffer.from(JSON.stringify(envelope, null, 2) + '\n'),
  ]);
}

/** Reads the plaintext envelope: enough to tell a Cairn repository and its version. */
export async function readEnvelope(backend: Backend): Promise<Envelope> {
  let bytes: Buffer;
  try {
    bytes = await backend.read({ type: 'config', name: 'config' });
  } catch (err) {
    if (err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND' && errnoCode(err.cause) === 'ENOTDIR') {
      throw new CairnError(
        'REPO_NOT_CAIRN',
        `Cannot open the repository at ${backend.location}: it is a file, not a repository directory`,
        { cause: err },
      );
    }
    if (err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND') {
      throw new CairnError(
        'REPO_NOT_FOUND',
        `Cannot open the repository at ${backend.location}: there is no repository there (no config file); create one with "cairn init"`,
        { cause: err },
      );
    }
    throw err;
  }
  let env: Envelope;
  try {
    env = JSON.parse(bytes.toString('utf8')) as Envelope;
  } catch (err) {
    throw new CairnError(
      'REPO_NOT_CAIRN',
      `Cannot open the repository at ${backend.location}: its config file is not a Cairn config`,
      { cause: err },
    );
  }
  if (typeof env !== 'object' || env === null || env.format !== FORMAT_MAGIC) {
    throw new CairnError(
      'REPO_NOT_CAIRN',
      `Cannot open the repository at ${backend.location}: its config file is not a Cairn config`,
    );
  }
  if (env.version > FORMAT_VERSION) {
    throw new CairnError(
      'REPO_UNSUPPORTED_VERSION',
      `Cannot open the repository at ${backend.location}: it has format version ${env.version}, this program reads up to ${FORMAT_VERSION}; upgrade Cairn`,
    );
  }
  return env;
}

export function openConfig(backend: Backend, key: MasterKey, env: Envelope): RepoConfig {
  let config: RepoConfig;
  try {
    config = JSON.parse(
      openFile(key, 'config', Buffer.from(env.sealed, 'base64')).toString('utf8'),
    ) as RepoConfig;
  } catch (err) {
    const why =
      err instanceof DecryptError
        ? 'it does not authenticate with the repository key'
        : 'it cannot be parsed';
    throw new CairnError(
      'CONFIG_CORRUPT',
      `Cannot open the repository at ${backend.location}: its config is damaged (${why})`,
      { cause: err },
    );
  }
  if (config.id !== env.id || config.version !== env.version) {
    throw new CairnError(
      'CONFIG_CORRUPT',
      `Cannot open the repository at ${backend.location}: the config envelope and body disagree`,
    );
  }
  return config;
}
