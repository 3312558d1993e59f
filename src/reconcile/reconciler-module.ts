import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assertKind } from "../codec/names.js";
import { RegistrationError } from "./errors.js";
import type { Reconciler } from "./reconciler.js";

/**
 * Imports a reconciler module by URL: its default export is the reconciler
 * class (constructed with no arguments) or an instance.
 */
export async function loadReconcilerModule(url: string): Promise<Reconciler> {
  let module: { default?: unknown };
  try {
    module = (await import(typeScriptSource(url))) as { default?: unknown };
  } catch (error) {
    throw new RegistrationError(`cannot import reconciler module ${url}: ${(error as Error)?.message ?? error}`, { cause: error });
  }
  const exported = module.default;
  let reconciler: unknown = exported;
  if (typeof exported === "function") {
    try {
      reconciler = new (exported as new () => unknown)();
    } catch (error) {
      throw new RegistrationError(`reconciler module ${url}: constructing its default export failed: ${(error as Error)?.message ?? error}`, { cause: error });
    }
  }
  return checkReconciler(reconciler, `reconciler module ${url} (default export)`);
}

/**
 * On Bun and Deno, which run TypeScript, `./x.js` names `./x.ts` when only the
 * source exists, as the `.js` specifiers of NodeNext TypeScript do: Bun resolves
 * that itself, Deno only in a project with sloppy imports, so a user's Deno
 * project registering `new URL("./x.js", import.meta.url)` would fail without this.
 */
export function typeScriptSource(url: string): string {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if ((g.Bun === undefined && g.Deno === undefined) || !url.startsWith("file:") || !url.endsWith(".js")) return url;
  if (existsSync(fileURLToPath(url))) return url;
  const source = `${url.slice(0, -3)}.ts`;
  return existsSync(fileURLToPath(source)) ? source : url;
}

/** Throws RegistrationError unless `value` has a valid resourceKind and a reconcile method. */
export function checkReconciler(value: unknown, what: string): Reconciler {
  const candidate = value as Partial<Reconciler> | null | undefined;
  if (typeof candidate !== "object" || candidate === null || typeof candidate.reconcile !== "function") {
    throw new RegistrationError(`${what} is not a reconciler: it needs a reconcile(ctx, resource) method`);
  }
  try {
    assertKind(candidate.resourceKind, `${what}.resourceKind`);
  } catch (error) {
    throw new RegistrationError((error as Error).message, { cause: error });
  }
  return candidate as Reconciler;
}
