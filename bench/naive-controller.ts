import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { ConflictError } from "../src/storage/errors.js";
import type { Storage } from "../src/storage/storage.js";
import { DEVICE_KIND, type BenchDevice } from "./device.js";
import { siblingModule } from "./runtime.js";

/**
 * Calls `each` (awaiting it) with the uid of every device put whose status is
 * not its desired state yet; a converged put (a write of ours coming back) is skipped.
 */
function watchUnconverged(storage: Storage, signal: AbortSignal, each: (uid: string) => void | Promise<void>): Promise<void> {
  const changes = storage.watch(DEVICE_KIND, { signal });
  return (async () => {
    for await (const change of changes) {
      if (change.type !== "put") continue;
      const device = change.value as BenchDevice;
      if (device.status?.state !== device.spec.desired) await each(change.uid);
    }
  })();
}

/**
 * The e2e baseline: what one writes without converge's queue and batching.
 * Every storage put of an unconverged device loads it and sends it to Piscina
 * as its own task (structured clone of the plain object); the worker returns
 * the status and the main thread writes it with compare-and-swap — the same
 * load, reconcile and CAS write per key as the controller does.
 */
export class NaiveController {
  readonly #storage: Storage;
  readonly #pool: Piscina<BenchDevice, BenchDevice["status"]>;
  readonly #abort = new AbortController();
  #watching: Promise<void> | undefined;
  #reconciles = 0;
  #conflicts = 0;

  constructor(storage: Storage, threads: number) {
    this.#storage = storage;
    this.#pool = new Piscina({
      filename: fileURLToPath(siblingModule(import.meta.url, "naive-worker")),
      minThreads: threads,
      maxThreads: threads,
    });
  }

  get reconciles(): number {
    return this.#reconciles;
  }

  get conflicts(): number {
    return this.#conflicts;
  }

  /** Watches, then sends every device that exists already (an informer's list). */
  async start(): Promise<void> {
    this.#watching = watchUnconverged(this.#storage, this.#abort.signal, (uid) => void this.#reconcile(uid));
    for (const uid of await this.#storage.list(DEVICE_KIND)) void this.#reconcile(uid);
  }

  async #reconcile(uid: string): Promise<void> {
    const device = (await this.#storage.load(DEVICE_KIND, uid)) as BenchDevice | undefined;
    if (device === undefined) return;
    const status = await this.#pool.run(device);
    this.#reconciles++;
    try {
      await this.#storage.save(DEVICE_KIND, uid, { ...device, status }, { expectedRevision: device.metadata?.revision ?? 0 });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      this.#conflicts++;
      await this.#reconcile(uid); // changed meanwhile: again, on fresh data
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#watching;
    await this.#pool.destroy();
  }
}

/**
 * Not a controller: the floor of main-thread work in the e2e suite. Every
 * unconverged put is loaded and its status written with CAS straight from the
 * watch loop — no queue, no reconciler, no worker — so the e2e rows can be
 * read against the storage work alone.
 */
export class DirectWriter {
  readonly #storage: Storage;
  readonly #abort = new AbortController();
  #watching: Promise<void> | undefined;
  #writes = 0;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  get writes(): number {
    return this.#writes;
  }

  async start(): Promise<void> {
    this.#watching = watchUnconverged(this.#storage, this.#abort.signal, (uid) => this.#write(uid));
    for (const uid of await this.#storage.list(DEVICE_KIND)) await this.#write(uid);
  }

  async #write(uid: string): Promise<void> {
    const loaded = (await this.#storage.load(DEVICE_KIND, uid)) as BenchDevice | undefined;
    if (loaded === undefined) return;
    await this.#storage.save(DEVICE_KIND, uid, { ...loaded, status: { state: loaded.spec.desired } }, { expectedRevision: loaded.metadata?.revision ?? 0 });
    this.#writes++;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#watching;
  }
}
