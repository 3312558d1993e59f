import { inject } from "vitest";

/** The test run's nats-server URL; throws the install hint when there is none. */
export function natsUrl(): string {
  const url = inject("natsUrl");
  if (!url) throw new Error(inject("natsUnavailable") || "no nats-server for this run");
  return url;
}
