/**
 * The controller's queue handle for each resource, found by kind and uid
 * without building the `kind/uid` key: one Map per kind keyed by uid (the
 * strings storage hands out, whose hashes V8 caches), and the kind and uid of
 * each handle for the way back. The queue interns the key string only the
 * first time a resource is seen; every later watch event, list entry and
 * batch skips the concatenation and its hashing.
 */
export class ResourceHandles {
  readonly #byKind = new Map<string, Map<string, number>>();
  readonly #kindOf: (string | undefined)[] = [];
  readonly #uidOf: (string | undefined)[] = [];
  readonly #intern: (key: string) => number;
  readonly #onNew: (h: number, kind: string) => void;

  /**
   * `intern` gives the queue's handle for a key; `onNew` runs once per handle
   * given to a resource (again if the handle is released and reused).
   */
  constructor(intern: (key: string) => number, onNew: (h: number, kind: string) => void) {
    this.#intern = intern;
    this.#onNew = onNew;
  }

  handleOf(kind: string, uid: string): number {
    let byUid = this.#byKind.get(kind);
    const known = byUid?.get(uid);
    if (known !== undefined) return known;
    const h = this.#intern(`${kind}/${uid}`);
    if (!byUid) this.#byKind.set(kind, (byUid = new Map()));
    byUid.set(uid, h);
    this.#kindOf[h] = kind;
    this.#uidOf[h] = uid;
    this.#onNew(h, kind);
    return h;
  }

  /** The handle `kind/uid` has, if it has one; interns nothing. */
  knownHandle(kind: string, uid: string): number | undefined {
    return this.#byKind.get(kind)?.get(uid);
  }

  kindOf(h: number): string {
    return this.#kindOf[h]!;
  }

  uidOf(h: number): string {
    return this.#uidOf[h]!;
  }

  /** Forgets `h` once the queue has released its key (the handle may be reused). */
  release(h: number): void {
    const kind = this.#kindOf[h];
    const uid = this.#uidOf[h];
    if (kind === undefined || uid === undefined) return;
    const byUid = this.#byKind.get(kind);
    if (byUid?.get(uid) === h) byUid.delete(uid);
    if (byUid?.size === 0) this.#byKind.delete(kind);
    this.#kindOf[h] = undefined;
    this.#uidOf[h] = undefined;
  }
}
