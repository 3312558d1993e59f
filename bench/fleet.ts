import { setImmediate as nextTurn } from "node:timers/promises";
import { InMemoryStorage } from "../src/storage/in-memory-storage.js";
import { DEVICE_KIND, deviceIndex, deviceUid, type BenchDevice } from "./device.js";
import { summarize, type Summary } from "./stats.js";

/** Something that converges devices in `storage` once started. */
export interface FleetSystem {
  stop(): Promise<void>;
  /** Reconciles run (a device may take more than one). */
  reconciles(): number;
}

export interface FleetResult {
  devices: number;
  /** From the system's start ("existing") or the first create ("feed") to the last device seen converged. */
  elapsedMs: number;
  /** How long creating every device took (the feed; 0 for an existing fleet). */
  createMs: number;
  /** Devices converged per second of `elapsedMs` (first pass: one reconcile each). */
  perSecond: number;
  reconciles: number;
  /** Start ("existing") or create ("feed") -> converged status seen through a storage watch, ms. */
  latency: Summary;
  /** CPU time of the whole process (every thread) during the run, s. */
  cpuSeconds: number;
}

/** Devices created between turns of the event loop. */
const CREATE_CHUNK = 1024;

/**
 * How the fleet meets the system: "existing" — every device is in storage
 * before the system starts, and its first pass (list, reconcile each once) is
 * timed from the start call; "feed" — the system starts on empty storage and
 * the devices are created while it runs, in chunks of CREATE_CHUNK per turn.
 */
export type FleetMode = "existing" | "feed";

function newDevice(i: number, spec: Partial<BenchDevice["spec"]>): BenchDevice {
  return { kind: DEVICE_KIND, uid: deviceUid(i), spec: { desired: "running", ...spec }, status: { state: "stopped" } };
}

/**
 * Starts `system` on fresh in-memory storage holding `devices` devices
 * (desired "running", status "stopped"), created before it starts or while it
 * runs (`mode`), and waits until a storage watch has seen every one of them
 * converged.
 */
export async function runFleet(
  devices: number,
  start: (storage: InMemoryStorage) => Promise<FleetSystem>,
  spec: Partial<BenchDevice["spec"]> = {},
  mode: FleetMode = "feed",
  timeoutMs = 600_000,
): Promise<FleetResult> {
  const storage = new InMemoryStorage();
  const createdAt = new Float64Array(devices);
  const latency = new Float64Array(devices);
  const converged = new Uint8Array(devices);
  let count = 0;
  let allConverged!: () => void;
  const done = new Promise<void>((resolve) => (allConverged = resolve));
  if (mode === "existing") {
    for (let i = 0; i < devices; i++) await storage.save(DEVICE_KIND, deviceUid(i), newDevice(i, spec), { expectedRevision: 0 });
  }
  const abort = new AbortController();
  const changes = storage.watch(DEVICE_KIND, { signal: abort.signal });
  const watching = (async () => {
    for await (const change of changes) {
      if (change.type !== "put") continue;
      const device = change.value as BenchDevice;
      if (device.status?.state !== device.spec.desired) continue;
      const i = deviceIndex(change.uid);
      if (converged[i] === 1) continue;
      converged[i] = 1;
      latency[i] = performance.now() - createdAt[i];
      if (++count === devices) allConverged();
    }
  })();

  (globalThis as { gc?: () => void }).gc?.();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  // An existing fleet's clock starts with the system: its start (the list) is part of the first pass.
  if (mode === "existing") createdAt.fill(t0);
  const system = await start(storage);
  if (mode === "feed") {
    cpu0 = process.cpuUsage();
    t0 = performance.now();
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let createMs = 0;
  try {
    if (mode === "feed") {
      for (let i = 0; i < devices; i++) {
        createdAt[i] = performance.now();
        await storage.save(DEVICE_KIND, deviceUid(i), newDevice(i, spec), { expectedRevision: 0 });
        if (i % CREATE_CHUNK === CREATE_CHUNK - 1) await nextTurn();
      }
      createMs = performance.now() - t0;
    }
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`e2e: only ${count} of ${devices} devices converged within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const reconciles = system.reconciles();
  await system.stop();
  abort.abort();
  await watching;
  await storage.close();
  return {
    devices,
    elapsedMs,
    createMs,
    perSecond: (devices * 1000) / elapsedMs,
    reconciles,
    latency: summarize(latency),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
