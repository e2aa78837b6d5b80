/**
 * A backend wrapper that injects failures and corruption, for tests.
 *
 * Rules fire in the order they were added. An injected failure happens before the operation
 * reaches the inner backend, so a failed write writes nothing, exactly like a real failed write;
 * `afterEffect` instead performs the operation and then fails, like a reply lost on its way back.
 */

import { CairnError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type {
  Backend,
  BackendFeatures,
  CloneUse,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';
import { CONFIG_HANDLE, describeHandle } from './handle.ts';

export type FaultOp = 'exists' | 'stat' | 'read' | 'write' | 'remove' | 'list' | 'compose';

/**
 * Selects the files a rule applies to. `list(type)` and `compose(type)` pass `{ type, name: '' }`
 * (config: the config handle).
 */
export type HandleFilter = (h: Handle) => boolean;

export interface FailOptions {
  /** Perform the operation on the inner backend, then fail. */
  readonly afterEffect?: boolean;
  /** For `list`: yield this many items, then fail. */
  readonly afterItems?: number;
}

export type FaultRule =
  /** Fail the next `count` (default 1; Infinity for always) matching calls of `op` with `code` (default BACKEND_IO). */
  | ({
      readonly kind: 'fail';
      readonly op: FaultOp;
      readonly count?: number;
      readonly code?: ErrorCode;
      readonly filter?: HandleFilter;
    } & FailOptions)
  /** After `writes` more writes (composes count too) have reached the inner backend, fail every later one. */
  | { readonly kind: 'failAfterWrites'; readonly writes: number; readonly code?: ErrorCode }
  /** Pass the result of matching reads (`count` of them, default all) through `mutate`. */
  | {
      readonly kind: 'corruptReads';
      readonly filter?: HandleFilter;
      readonly mutate: (buf: Buffer) => void;
      readonly count?: number;
    };

export type CountedOp = 'create' | FaultOp | 'close';

/** A rule with its remaining budget. */
interface Armed {
  readonly rule: FaultRule;
  left: number;
}

export class FaultBackend implements Backend {
  readonly inner: Backend;
  /** Calls per operation, failed ones included. */
  readonly calls: Record<CountedOp, number> = zeroCounts();
  /** How many failures were injected. */
  injected = 0;
  #rules: Armed[] = [];

  constructor(inner: Backend, rules: readonly FaultRule[] = []) {
    this.inner = inner;
    for (const rule of rules) this.addRule(rule);
  }

  get location(): string {
    return this.inner.location;
  }

  get features(): BackendFeatures {
    return this.inner.features;
  }

  addRule(rule: FaultRule): this {
    let left: number;
    if (rule.kind === 'fail') left = rule.count ?? 1;
    else if (rule.kind === 'failAfterWrites') left = rule.writes;
    else left = rule.count ?? Infinity;
    this.#rules.push({ rule, left });
    return this;
  }

  failNext(
    op: FaultOp,
    count = 1,
    code: ErrorCode = 'BACKEND_IO',
    filter?: HandleFilter,
    options: FailOptions = {},
  ): this {
    return this.addRule({ kind: 'fail', op, count, code, ...(filter ? { filter } : {}), ...options });
  }

  /** The (n+1)th and later writes from now on fail; the first n go through. */
  failAfterWrites(n: number, code: ErrorCode = 'BACKEND_IO'): this {
    return this.addRule({ kind: 'failAfterWrites', writes: n, code });
  }

  corruptReads(filter: HandleFilter, mutate: (buf: Buffer) => void, count = Infinity): this {
    return this.addRule({ kind: 'corruptReads', filter, mutate, count });
  }

  /** Drops every rule. */
  clear(): void {
    this.#rules = [];
  }

  resetCounts(): void {
    Object.assign(this.calls, zeroCounts());
    this.injected = 0;
  }

  create(): Promise<void> {
    this.calls.create++;
    return this.inner.create();
  }

  async exists(h: Handle): Promise<boolean> {
    this.calls.exists++;
    return this.#around('exists', h, () => this.inner.exists(h));
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    this.calls.list++;
    const h: Handle = type === 'config' ? CONFIG_HANDLE : { type, name: '' };
    const fault = this.#takeFail('list', h);
    if (fault !== undefined && fault.afterEffect !== true && fault.afterItems === undefined) {
      throw this.#injected('list', h, fault.code);
    }
    let n = 0;
    for await (const info of this.inner.list(type)) {
      if (fault?.afterItems !== undefined && n >= fault.afterItems) break;
      yield info;
      n++;
    }
    if (fault !== undefined) throw this.#injected('list', h, fault.code);
  }

  async stat(h: Handle): Promise<FileInfo> {
    this.calls.stat++;
    return this.#around('stat', h, () => this.inner.stat(h));
  }

  async read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer> {
    this.calls.read++;
    const buf = await this.#around('read', h, () => this.inner.read(h, range));
    for (const armed of this.#rules) {
      const { rule } = armed;
      if (rule.kind !== 'corruptReads' || armed.left <= 0 || !(rule.filter?.(h) ?? true)) continue;
      armed.left--;
      rule.mutate(buf);
    }
    return buf;
  }

  async write(h: Handle, data: readonly Uint8Array[]): Promise<void> {
    this.calls.write++;
    return this.#around('write', h, () => {
      this.#countWrite('write', h);
      return this.inner.write(h, data);
    });
  }

  async compose(type: FileType, segments: readonly Segment[], source?: Backend): Promise<ComposeResult> {
    this.calls.compose++;
    const h: Handle = { type, name: '' };
    return this.#around('compose', h, () => {
      this.#countWrite('compose', h);
      return this.inner.compose(type, segments, source);
    });
  }

  canClone(source?: Backend, use?: CloneUse): Promise<boolean> {
    return this.inner.canClone(source, use);
  }

  /**
   * The inner backend's path, unless a rule fails or corrupts reads: whoever reads the file
   * itself (a worker verifying a pack) would then not see them.
   */
  localPath(h: Handle): string | undefined {
    const readsRuled = this.#rules.some(
      ({ rule }) => rule.kind === 'corruptReads' || (rule.kind === 'fail' && rule.op === 'read'),
    );
    return readsRuled ? undefined : this.inner.localPath(h);
  }

  retainedUntil(h: Handle): Promise<Date | undefined> {
    return this.inner.retainedUntil(h);
  }

  removeStaleTempFiles(olderThanMs: number): Promise<number> {
    return this.inner.removeStaleTempFiles(olderThanMs);
  }

  /** Spends one write of each failAfterWrites rule, or throws when one has none left. */
  #countWrite(op: FaultOp, h: Handle): void {
    for (const armed of this.#rules) {
      if (armed.rule.kind !== 'failAfterWrites') continue;
      if (armed.left <= 0) throw this.#injected(op, h, armed.rule.code ?? 'BACKEND_IO');
      armed.left--;
    }
  }

  async remove(h: Handle): Promise<void> {
    this.calls.remove++;
    return this.#around('remove', h, () => this.inner.remove(h));
  }

  close(): Promise<void> {
    this.calls.close++;
    return this.inner.close();
  }

  /** Runs `fn` unless a fail rule fires before it; with `afterEffect`, runs it and then fails. */
  async #around<T>(op: FaultOp, h: Handle, fn: () => Promise<T>): Promise<T> {
    const fault = this.#takeFail(op, h);
    if (fault === undefined) return fn();
    if (fault.afterEffect === true) await fn();
    throw this.#injected(op, h, fault.code);
  }

  /** Consumes one firing of the first matching fail rule. */
  #takeFail(
    op: FaultOp,
    h: Handle,
  ): { code: ErrorCode; afterEffect?: boolean; afterItems?: number } | undefined {
    for (const armed of this.#rules) {
      const { rule } = armed;
      if (rule.kind !== 'fail' || rule.op !== op || armed.left <= 0 || !(rule.filter?.(h) ?? true)) continue;
      armed.left--;
      return {
        code: rule.code ?? 'BACKEND_IO',
        ...(rule.afterEffect !== undefined ? { afterEffect: rule.afterEffect } : {}),
        ...(rule.afterItems !== undefined ? { afterItems: rule.afterItems } : {}),
      };
    }
    return undefined;
  }

  #injected(op: FaultOp, h: Handle, code: ErrorCode): CairnError {
    this.injected++;
    const what = op === 'list' || op === 'compose' ? h.type : describeHandle(h);
    return new CairnError(code, `Cannot ${op} ${what} in ${this.location}: injected fault #${this.injected}`);
  }
}

function zeroCounts(): Record<CountedOp, number> {
  return { create: 0, exists: 0, stat: 0, read: 0, write: 0, remove: 0, list: 0, compose: 0, close: 0 };
}
