import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import { assertKind } from "../codec/names.js";
import { RegistrationError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { Reconciler } from "./reconciler.js";
import { checkReconciler, loadReconcilerModule } from "./reconciler-module.js";

export type Isolation = "worker" | "inline";

export interface RegisterOptions {
  /** The kind, so a module registered by URL need not be imported on the main thread. */
  kind?: string;
  /** Overrides the controller's isolation for a module registered by URL. */
  isolation?: Isolation;
  /**
   * A valibot schema for this kind's resources. An invalid one is not
   * reconciled: it gets condition Valid=False with the reason, and is not
   * retried until it changes.
   */
  schema?: v.GenericSchema;
  /**
   * Skip storage changes that leave metadata.generation unchanged (status-only
   * writes), as controller-runtime's GenerationChangedPredicate. Default true;
   * false reconciles on every change.
   */
  generationChangedPredicate?: boolean;
}

export interface Registration {
  kind: string;
  isolation: Isolation;
  url?: string;
  instance?: Reconciler;
  schema?: v.GenericSchema;
  generationChangedPredicate: boolean;
  /** The kind's index in the metrics' kind label (-1 without metrics). */
  metricsKind: number;
}

export interface RegistrationDefaults {
  isolation: Isolation;
  logger: Logger;
  metricsKind(kind: string): number;
}

/** The registered reconcilers by kind. */
export class Registrations {
  readonly #byKind = new Map<string, Registration>();
  readonly #defaults: RegistrationDefaults;

  constructor(defaults: RegistrationDefaults) {
    this.#defaults = defaults;
  }

  get(kind: string): Registration | undefined {
    return this.#byKind.get(kind);
  }

  has(kind: string): boolean {
    return this.#byKind.has(kind);
  }

  kinds(): IterableIterator<string> {
    return this.#byKind.keys();
  }

  values(): IterableIterator<Registration> {
    return this.#byKind.values();
  }

  get size(): number {
    return this.#byKind.size;
  }

  async register(reconciler: Reconciler | URL | string, options: RegisterOptions): Promise<void> {
    const { schema, generationChangedPredicate = true } = options;
    if (schema !== undefined && (typeof schema !== "object" || schema === null || (schema as { kind?: unknown }).kind !== "schema")) {
      throw new ValidationError("options.schema", "must be a valibot schema");
    }
    if (typeof generationChangedPredicate !== "boolean") {
      throw new ValidationError("options.generationChangedPredicate", `must be true or false, got ${String(generationChangedPredicate)}`);
    }
    let registration: Omit<Registration, "generationChangedPredicate" | "metricsKind">;
    if (typeof reconciler === "string" || reconciler instanceof URL) {
      const url = String(reconciler);
      const isolation = options.isolation ?? this.#defaults.isolation;
      if (isolation === "inline" || options.kind === undefined) {
        const instance = await loadReconcilerModule(url);
        if (options.kind !== undefined && options.kind !== instance.resourceKind) {
          throw new RegistrationError(`${url}: options.kind ${options.kind} differs from its resourceKind ${instance.resourceKind}`);
        }
        registration = isolation === "inline"
          ? { kind: instance.resourceKind, isolation, instance }
          : { kind: instance.resourceKind, isolation, url };
        if (isolation === "inline") this.#wire(instance);
      } else {
        registration = { kind: assertKind(options.kind, "options.kind"), isolation, url };
      }
    } else {
      const instance = checkReconciler(reconciler, "registerReconciler argument");
      this.#wire(instance);
      registration = { kind: instance.resourceKind, isolation: "inline", instance };
    }
    if (this.#byKind.has(registration.kind)) {
      throw new RegistrationError(`a reconciler for kind ${registration.kind} is registered already`);
    }
    const metricsKind = this.#defaults.metricsKind(registration.kind);
    this.#byKind.set(
      registration.kind,
      schema === undefined
        ? { ...registration, generationChangedPredicate, metricsKind }
        : { ...registration, schema, generationChangedPredicate, metricsKind },
    );
    this.#defaults.logger.info(`Registered reconciler for ${registration.kind}`);
  }

  /** Why `resource` fails its kind's schema, or undefined when it passes (or there is none). */
  invalidity(kind: string, resource: unknown): string | undefined {
    const schema = this.#byKind.get(kind)?.schema;
    if (schema === undefined) return undefined;
    const result = v.safeParse(schema, resource);
    if (result.success) return undefined;
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  }

  #wire(instance: Reconciler): void {
    const target = instance as { logger?: Logger };
    if ("logger" in target) target.logger = this.#defaults.logger;
  }
}
