import { dequal } from "dequal";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import { ConflictError } from "../storage/errors.js";

/**
 * Reads and writes resources the way an API server would: `create` starts
 * `metadata.generation` at 1, `update` bumps it when the spec changes and never
 * touches `status` (that is written by reconciles, through updateStatus).
 */
export class StorageClient {
  constructor(private readonly storage: Storage) {}

  get(kind: string, uid: string): Promise<Resource | undefined> {
    return this.storage.load(kind, uid);
  }

  list(kind: string): Promise<Resource[]> {
    return this.storage.loadAll(kind);
  }

  /** Rejects with ConflictError when the resource exists already. */
  async create(resource: Resource): Promise<Resource> {
    const stored = withoutRevision(resource);
    stored.metadata = { ...stored.metadata, generation: 1 };
    const revision = await this.storage.save(resource.kind, resource.uid, stored, { expectedRevision: 0 });
    return { ...stored, metadata: { ...stored.metadata, revision } };
  }

  /**
   * Compare-and-swap on `metadata.revision` when the caller read one; otherwise
   * on whatever is stored now. Rejects with ConflictError when it changed meanwhile
   * or the resource does not exist.
   */
  async update(resource: Resource): Promise<Resource> {
    const current = await this.storage.load(resource.kind, resource.uid);
    const expected = resource.metadata?.revision ?? current?.metadata?.revision;
    if (!current || expected !== current.metadata?.revision) {
      throw new ConflictError(resource.kind, resource.uid, expected ?? 0, current?.metadata?.revision);
    }
    const generation = current.metadata?.generation ?? 1;
    const next = withoutRevision(resource);
    next.metadata = {
      ...next.metadata,
      generation: dequal(current.spec, resource.spec) ? generation : generation + 1,
    };
    if (current.status === undefined) delete next.status;
    else next.status = current.status;
    const revision = await this.storage.save(resource.kind, resource.uid, next, { expectedRevision: expected });
    return { ...next, metadata: { ...next.metadata, revision } };
  }

  delete(kind: string, uid: string): Promise<boolean> {
    return this.storage.delete(kind, uid);
  }
}

function withoutRevision(resource: Resource): Resource {
  const copy: Resource = { ...resource };
  if (resource.metadata) {
    const { revision: _revision, ...metadata } = resource.metadata;
    copy.metadata = metadata;
  }
  return copy;
}
