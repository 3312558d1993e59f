import { dequal } from "dequal";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import { ConflictError } from "../storage/errors.js";

/**
 * Reads and writes resources the way an API server would: `create` starts
 * `metadata.generation` at 1, `update` bumps it when the spec changes and never
 * touches `status` (that is written by reconciles, through updateStatus), and
 * `delete` honours finalizers (Kubernetes semantics).
 */
export class StorageClient {
  constructor(private readonly storage: Storage) {}

  get<R extends Resource = Resource>(kind: string, uid: string): Promise<R | undefined> {
    return this.storage.load<R>(kind, uid);
  }

  list<R extends Resource = Resource>(kind: string): Promise<R[]> {
    return this.storage.loadAll<R>(kind);
  }

  /** Rejects with ConflictError when the resource exists already. */
  async create<R extends Resource>(resource: R): Promise<R> {
    const stored = withoutRevision(resource);
    const { deletedAt: _deletedAt, ...metadata } = stored.metadata ?? {};
    stored.metadata = { ...metadata, generation: 1 };
    const revision = await this.storage.save(resource.kind, resource.uid, stored, { expectedRevision: 0 });
    return { ...stored, metadata: { ...stored.metadata, revision } } as R;
  }

  /**
   * Compare-and-swap on `metadata.revision` when the caller read one; otherwise
   * on whatever is stored now. Rejects with ConflictError when it changed meanwhile
   * or the resource does not exist. `deletedAt` cannot be set or cleared here
   * (use delete); removing the last finalizer of a resource being deleted
   * deletes it, and resolves with it as it was last stored.
   */
  async update<R extends Resource>(resource: R): Promise<R> {
    const current = await this.storage.load(resource.kind, resource.uid);
    const expected = resource.metadata?.revision ?? current?.metadata?.revision;
    if (!current || expected !== current.metadata?.revision) {
      throw new ConflictError(resource.kind, resource.uid, expected ?? 0, current?.metadata?.revision);
    }
    const generation = current.metadata?.generation ?? 1;
    const next = withoutRevision(resource);
    const { deletedAt: _ignored, ...metadata } = next.metadata ?? {};
    next.metadata = { ...metadata, generation: dequal(current.spec, resource.spec) ? generation : generation + 1 };
    const deletedAt = current.metadata?.deletedAt;
    if (deletedAt !== undefined) {
      if ((next.metadata.finalizers?.length ?? 0) === 0) {
        await this.storage.delete(resource.kind, resource.uid, { expectedRevision: expected });
        return current as R;
      }
      next.metadata.deletedAt = deletedAt;
    }
    if (current.status === undefined) delete next.status;
    else next.status = current.status;
    const revision = await this.storage.save(resource.kind, resource.uid, next, { expectedRevision: expected });
    return { ...next, metadata: { ...next.metadata, revision } } as R;
  }

  /**
   * Deletes the resource. While it has finalizers it is only marked
   * (`metadata.deletedAt`, generation bumped) so its reconciler can clean up and
   * remove them; the last removal deletes it. Resolves false when it did not exist.
   */
  async delete(kind: string, uid: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.storage.load(kind, uid);
      if (current === undefined) return false;
      const expectedRevision = current.metadata?.revision;
      try {
        if ((current.metadata?.finalizers?.length ?? 0) === 0) {
          return await this.storage.delete(kind, uid, { expectedRevision });
        }
        if (current.metadata?.deletedAt !== undefined) return true;
        const marked = withoutRevision(current);
        marked.metadata = {
          ...marked.metadata,
          deletedAt: new Date().toISOString(),
          generation: (current.metadata?.generation ?? 1) + 1,
        };
        await this.storage.save(kind, uid, marked, { expectedRevision });
        return true;
      } catch (error) {
        // Changed between the read and the write (a reconcile's status write, say): read again.
        if (!(error instanceof ConflictError) || attempt >= DELETE_ATTEMPTS) throw error;
      }
    }
  }
}

/** A delete that keeps losing compare-and-swap races gives up (with the ConflictError) after this many reads. */
const DELETE_ATTEMPTS = 10;

function withoutRevision(resource: Resource): Resource {
  const copy: Resource = { ...resource };
  if (resource.metadata) {
    const { revision: _revision, ...metadata } = resource.metadata;
    copy.metadata = metadata;
  }
  return copy;
}
