import { InvalidArgumentError, describe } from "./errors.js";
import { HandleQueue } from "./handle-queue.js";
import { KeyInterner } from "./key-interner.js";

export interface WorkQueueOptions {
  /**
   * Keep a key's handle when the key goes idle (done and not re-added).
   * Default false: the handle is released so an unbounded key space does not
   * leak. True makes re-adds cheaper and handles stable (see `handleOf`).
   */
  retainKeys?: boolean;
}

/**
 * client-go's work queue with any keys (strings by default): `add` dedups,
 * a key is never handed to two consumers at once, an add while it is
 * processing re-queues it on `done`, `shutDown` refuses adds and lets
 * consumers drain.
 *
 * Keys are interned to integer handles once, at `add`; the queue itself runs
 * on handles (`HandleQueue`). The `*Handle` methods are the controller's hot
 * path and skip the key lookup altogether.
 */
export class WorkQueue<K = string> {
  protected readonly queue = new HandleQueue();
  protected readonly interner = new KeyInterner<K>();
  protected readonly retainKeys: boolean;

  constructor(options: WorkQueueOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("WorkQueue.options", `must be an object, got ${describe(options)}`);
    }
    if (options.retainKeys !== undefined && typeof options.retainKeys !== "boolean") {
      throw new InvalidArgumentError("WorkQueue.options.retainKeys", `must be a boolean, got ${describe(options.retainKeys)}`);
    }
    this.retainKeys = options.retainKeys ?? false;
  }

  /** Marks `k` as needing work (one map lookup). Ignored after `shutDown`. */
  add(k: K): void {
    if (this.queue.shuttingDown()) return; // do not intern keys nobody will get
    this.enqueue(this.interner.intern(k));
  }

  /** The next key, now processing; `undefined` once shut down and drained. */
  get(): Promise<K | undefined> {
    // Fast path without an async frame: a ready key resolves in one promise.
    const h = this.queue.tryGet();
    if (h >= 0) return Promise.resolve(this.interner.keyOf(h));
    return this.queue.get().then(this.keyOrUndefined);
  }

  /** Ends processing of `k`; re-queues it if it was added meanwhile. */
  done(k: K): void {
    const h = this.interner.handleOf(k);
    if (h >= 0) this.doneHandle(h);
  }

  /** How many keys are ready. */
  len(): number {
    return this.queue.len();
  }

  /** How many keys are handed out and not yet done. */
  processing(): number {
    return this.queue.processing();
  }

  /** Refuses new adds; consumers get what is ready, then `undefined`. */
  shutDown(): void {
    this.queue.shutDown();
  }

  shuttingDown(): boolean {
    return this.queue.shuttingDown();
  }

  /** Resolves once shut down with nothing ready and nothing processing. */
  drained(): Promise<void> {
    return this.queue.drained();
  }

  /** Resolves when nothing is ready and nothing is processing. */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /**
   * Frees the handle of an idle key early; false if `k` is unknown or still
   * queued, processing or otherwise in use.
   */
  release(k: K): boolean {
    const h = this.interner.handleOf(k);
    return h >= 0 && this.queue.isIdle(h) && this.canRelease(h) && this.interner.release(h);
  }

  // ---- Advanced: handle API for the controller's hot path --------------------

  /**
   * The handle of `k`, interned on first sight. Without `retainKeys` a handle is
   * released (and may be reused for another key) when its key goes idle: keep
   * handles across a `done` only with `retainKeys: true`.
   */
  handleOf(k: K): number {
    return this.interner.intern(k);
  }

  /** The key of handle `h` (throws for a handle no key holds). */
  keyOf(h: number): K {
    return this.interner.keyOf(h);
  }

  /** `add` by handle (from `handleOf`); hashes nothing. */
  addHandle(h: number): void {
    if (this.queue.shuttingDown()) return;
    this.checkLive("WorkQueue.addHandle", h);
    this.enqueue(h);
  }

  /** The next ready handle, now processing; -1 when none is ready. */
  tryGetHandle(): number {
    return this.queue.tryGet();
  }

  /** Like `get`, by handle. */
  getHandle(): Promise<number | undefined> {
    return this.queue.get();
  }

  /** `done` by handle; hashes nothing (releasing an idle key deletes its map entry). */
  doneHandle(h: number): void {
    if (!this.queue.isProcessing(h)) return;
    this.queue.done(h);
    if (!this.retainKeys && this.queue.isIdle(h) && this.canRelease(h)) this.interner.release(h);
  }

  private readonly keyOrUndefined = (h: number | undefined): K | undefined =>
    h === undefined ? undefined : this.interner.keyOf(h);

  // ---- For subclasses --------------------------------------------------------

  /** Puts interned handle `h` in the queue. */
  protected enqueue(h: number): void {
    this.queue.add(h);
  }

  /** Whether an idle handle may be released (a subclass may still hold it). */
  protected canRelease(_h: number): boolean {
    return true;
  }

  protected checkLive(where: string, h: number): void {
    if (!this.interner.has(h)) {
      throw new InvalidArgumentError(where, `handle ${describe(h)} holds no key (use handleOf to get one)`);
    }
  }
}
