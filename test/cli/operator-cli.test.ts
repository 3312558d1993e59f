// The operator commands (list, get, watch, apply, delete, status) run as the
// built `converge` against the run's real nats-server, each test in its own bucket.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvStorage } from "../../src/storage/kv-storage.js";
import type { Resource } from "../../src/storage/resource.js";
import { NatsServer } from "../helpers/nats-server.js";
import { natsUrl } from "../helpers/nats.js";
import { converge, startConverge } from "./child-process.js";

let nc: NatsConnection;
let bucketCount = 0;

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
});

afterAll(async () => {
  await nc?.close();
});

/** A fresh bucket, and storage on it to play the controller (statuses, finalizers). */
async function freshBucket(): Promise<{ bucket: string; storage: KvStorage; flags: string[] }> {
  const bucket = `cli_${process.pid}_${++bucketCount}`;
  const storage = await KvStorage.open(nc, { bucket });
  return { bucket, storage, flags: ["--nats", natsUrl(), "--bucket", bucket] };
}

function ready(status: "True" | "False", reason: string, generation = 1): object {
  return { conditions: [{ type: "Ready", status, reason, message: "", lastTransitionTime: new Date(Date.now() - 90_000).toISOString(), observedGeneration: generation }] };
}

async function seed(storage: KvStorage, resources: Resource[]): Promise<void> {
  for (const r of resources) await storage.save(r.kind, r.uid, r);
}

describe("converge apply / list / get / status", () => {
  it("apply creates from stdin, then updates the spec bumping generation; unchanged input writes nothing", async () => {
    const { storage, flags } = await freshBucket();
    try {
      const first = await converge(["apply", "-f", "-", ...flags], {
        input: JSON.stringify([
          { kind: "Device", uid: "dev-1", spec: { desired: "running" }, metadata: { labels: { zone: "eu" } } },
          { kind: "Device", uid: "dev-2", spec: { desired: "running" } },
        ]),
      });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toBe("Device/dev-1 created (generation 1)\nDevice/dev-2 created (generation 1)\n");

      // The controller writes a status in between: apply must keep it.
      const stored = (await storage.load("Device", "dev-1"))!;
      await storage.save("Device", "dev-1", { ...stored, status: { state: "running", ...ready("True", "DeviceRunning") } });

      const changed = await converge(["apply", "-f", "-", ...flags], { input: '{"kind":"Device","uid":"dev-1","spec":{"desired":"stopped"}}' });
      expect(changed.stdout).toBe("Device/dev-1 configured (generation 2)\n");
      const after = (await storage.load("Device", "dev-1"))!;
      expect(after.spec).toEqual({ desired: "stopped" });
      expect(after.metadata?.labels).toEqual({ zone: "eu" });
      expect((after.status as { state: string }).state).toBe("running");

      const same = await converge(["apply", "-f", "-", "-o", "json", ...flags], { input: '{"kind":"Device","uid":"dev-1","spec":{"desired":"stopped"}}' });
      expect(JSON.parse(same.stdout)).toEqual([{ kind: "Device", uid: "dev-1", outcome: "unchanged", generation: 2, revision: after.metadata?.revision }]);

      // A revision in the file is a compare-and-swap: a stale one fails and writes nothing.
      const stale = await converge(["apply", "-f", "-", ...flags], {
        input: JSON.stringify({ kind: "Device", uid: "dev-1", spec: { desired: "running" }, metadata: { revision: stored.metadata!.revision } }),
      });
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(/^converge apply: Device\/dev-1 changed: metadata.revision \d+ is not its revision \(\d+\); get it again\n$/);
      expect((await storage.load("Device", "dev-1"))?.spec).toEqual({ desired: "stopped" });
    } finally {
      await storage.close();
    }
  });

  it("list shows uid, generation, Ready, reason and age; filters by --selector and --not-ready; -o json", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [
        { kind: "Light", uid: "light-1", metadata: { generation: 1, labels: { zone: "eu" } }, spec: {}, status: ready("True", "On") },
        { kind: "Light", uid: "light-2", metadata: { generation: 3, labels: { zone: "us" } }, spec: {}, status: ready("False", "BulbBroken", 3) },
        { kind: "Light", uid: "light-3", metadata: { generation: 1, labels: { zone: "eu" } }, spec: {} },
      ]);
      const all = await converge(["list", "Light", ...flags]);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout.split("\n")).toEqual([
        "UID      GENERATION  READY  REASON      AGE",
        "light-1  1           True   On          90s",
        "light-2  3           False  BulbBroken  90s",
        "light-3  1           -      -           -",
        "",
      ]);
      const eu = await converge(["list", "Light", "--selector", "zone=eu", "--not-ready", ...flags]);
      expect(eu.stdout).toMatch(/^UID.*\nlight-3 .*\n$/);
      const json = await converge(["list", "Light", "--not-ready", "-o", "json", ...flags]);
      expect((JSON.parse(json.stdout) as Resource[]).map((r) => r.uid)).toEqual(["light-2", "light-3"]);
    } finally {
      await storage.close();
    }
  });

  it("get shows spec, status and conditions; -o json is the stored resource", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [{ kind: "Light", uid: "light-1", metadata: { generation: 2, finalizers: ["cleanup"] }, spec: { on: true }, status: { watts: 9, ...ready("True", "On", 2) } }]);
      const human = await converge(["get", "Light", "light-1", ...flags]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/^Light\/light-1\n  revision    1\n  generation  2\n  finalizers  cleanup\nspec:\n  \{\n    "on": true\n  \}\nstatus:\n  \{\n    "watts": 9\n  \}\nconditions:\n  TYPE +STATUS +REASON +AGE +GENERATION +MESSAGE\n  Ready +True +On +90s +2/);
      const json = JSON.parse((await converge(["get", "Light", "light-1", "-o", "json", ...flags])).stdout) as Resource;
      expect(json).toMatchObject({ kind: "Light", uid: "light-1", spec: { on: true }, metadata: { generation: 2, revision: 1 } });
    } finally {
      await storage.close();
    }
  });

  it("status counts per kind: total, Ready, not ready by reason, being deleted; -o json", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [
        { kind: "Light", uid: "l1", spec: {}, status: ready("True", "On") },
        { kind: "Light", uid: "l2", spec: {}, status: ready("False", "BulbBroken") },
        { kind: "Light", uid: "l3", spec: {}, status: ready("False", "BulbBroken") },
        { kind: "Light", uid: "l4", spec: {}, metadata: { deletedAt: new Date().toISOString(), finalizers: ["x"] }, status: ready("True", "On") },
        { kind: "Switch", uid: "s1", spec: {} },
      ]);
      const table = await converge(["status", ...flags]);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout.split("\n")).toEqual([
        "KIND    TOTAL  READY  NOT READY               DELETING",
        "Light   4      2      2 BulbBroken            1",
        "Switch  1      0      1 (no Ready condition)  0",
        "",
      ]);
      const json = JSON.parse((await converge(["status", "-o", "json", ...flags])).stdout);
      expect(json).toEqual({
        kinds: {
          Light: { total: 4, ready: 2, notReady: { BulbBroken: 2 }, deleting: 1 },
          Switch: { total: 1, ready: 0, notReady: { "(no Ready condition)": 1 }, deleting: 0 },
        },
      });
    } finally {
      await storage.close();
    }
  });
});

describe("converge delete / watch", () => {
  it("delete removes a resource, but only marks one with finalizers (generation bumped)", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [
        { kind: "Light", uid: "plain", metadata: { generation: 1 }, spec: {} },
        { kind: "Light", uid: "held", metadata: { generation: 1, finalizers: ["example.com/cleanup"] }, spec: {} },
      ]);
      const plain = await converge(["delete", "Light", "plain", ...flags]);
      expect([plain.code, plain.stdout]).toEqual([0, "Light/plain deleted\n"]);
      expect(await storage.load("Light", "plain")).toBeUndefined();
      const held = await converge(["delete", "Light", "held", ...flags]);
      expect([held.code, held.stdout]).toEqual([0, "Light/held marked for deletion; waiting for finalizers: example.com/cleanup\n"]);
      const marked = await storage.load("Light", "held");
      expect(marked?.metadata?.deletedAt).toEqual(expect.any(String));
      expect(marked?.metadata?.generation).toBe(2);
      const again = await converge(["delete", "Light", "plain", ...flags]);
      expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/^converge delete: Light\/plain does not exist in bucket cli_\d+_\d+ at nats:\/\/127\.0\.0\.1:\d+\n$/)]);
    } finally {
      await storage.close();
    }
  });

  it("watch prints one line per change until SIGTERM, then exits 0", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [{ kind: "Light", uid: "l1", metadata: { generation: 1 }, spec: {} }]);
      const watching = startConverge(["watch", "Light", ...flags]);
      await watching.output(/^watching Light in bucket/m);
      await storage.save("Light", "l1", { kind: "Light", uid: "l1", metadata: { generation: 1 }, spec: {}, status: ready("True", "On") });
      await storage.delete("Light", "l1");
      await watching.output(/DELETE +l1/);
      watching.child.kill("SIGTERM");
      const exit = await watching.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const lines = exit.stdout.trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z  PUT     l1  revision=2 generation=1 ready=True reason=On$/);
      expect(lines[1]).toMatch(/^\S+  DELETE  l1  revision=3$/);
    } finally {
      await storage.close();
    }
  });
});

describe("converge operator commands: bad input gets one clear line and a non-zero exit", () => {
  it.each([
    [["list", "Dev.ice"], 2, /^converge list: <kind>: "Dev\.ice" must start with a letter/],
    [["get", "Light", "a b"], 2, /^converge get: <uid>: "a b" must start with a letter or digit/],
    [["get", "Light"], 2, /^converge get: <uid>: is required: get takes <kind> <uid>/],
    [["list", "Light", "--selector", "zone"], 2, /^converge list: --selector: must be key=value/],
    [["list", "Light", "--output", "yaml"], 2, /^converge list: --output: must be "table" or "json", got "yaml"/],
    [["list", "Light", "--timeout", "soon"], 2, /^converge list: --timeout: must be a number of seconds/],
    [["apply"], 2, /^converge apply: -f: is required/],
    [["list", "Light", "--bogus"], 2, /^converge list: --bogus: unknown flag/],
  ])("%j exits %i", async (args, status, message) => {
    const run = await converge([...args, "--nats", natsUrl()]);
    expect(run.code).toBe(status);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(message);
  });

  it("names the kinds the bucket has when asked for one it has not, and says when a bucket or resource is missing", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [{ kind: "Light", uid: "l1", spec: {} }]);
      const kind = await converge(["list", "Lihgt", ...flags]);
      expect([kind.code, kind.stderr]).toEqual([1, expect.stringMatching(/^converge list: no resources of kind Lihgt in bucket \S+ at \S+ \(kinds there: Light\)\n$/)]);
      const uid = await converge(["get", "Light", "l2", ...flags]);
      expect([uid.code, uid.stderr]).toEqual([1, expect.stringMatching(/^converge get: Light\/l2 does not exist in bucket/)]);
      const bucket = await converge(["status", "--nats", natsUrl(), "--bucket", "no_such_bucket"]);
      expect([bucket.code, bucket.stderr]).toEqual([1, expect.stringMatching(/^converge status: no KV bucket no_such_bucket at nats:\/\/127\.0\.0\.1:\d+ \(--bucket names it\)\n$/)]);
      const file = await converge(["apply", "-f", "-", ...flags], { input: '{"kind":"Light","uid":"l1","spec":{},"metadata":{"finalizers":["x"]}}' });
      expect([file.code, file.stderr]).toEqual([2, expect.stringMatching(/^converge apply: stdin.metadata.finalizers: is set by reconcilers/)]);
    } finally {
      await storage.close();
    }
  });

  it("gives up on no server, and on a server that never answers, within --timeout, hiding the password", async () => {
    const refused = await converge(["status", "--nats", "nats://user:secret@127.0.0.1:1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("converge status: cannot connect to NATS at nats://***@127.0.0.1:1: connection refused\n");
    const missing = await converge(["status"], { env: { NATS_URL: "" } });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/^converge status: --nats: is required/)]);

    const silent = await NatsServer.start();
    silent.pause();
    try {
      // A safety net, not a timing assertion: the process ends by itself (a leaked socket would hang it).
      const run = await converge(["list", "Light", "--nats", silent.url, "--timeout", "0.5"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^converge list: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: no answer within 0\.5 s\n$/);
    } finally {
      silent.resume();
      await silent.remove();
    }
  });
});

describe("converge status --watch", () => {
  it("prints the Ready count with a sparkline each second, and a chart of Ready over time when stopped", async () => {
    const { storage, flags } = await freshBucket();
    try {
      await seed(storage, [
        { kind: "Light", uid: "l1", spec: {} },
        { kind: "Light", uid: "l2", spec: {} },
      ]);
      const watching = startConverge(["status", "--watch", ...flags]);
      await watching.output(/^\d\d:\d\d:\d\d {2}Light 0\/2 Ready /m);
      await seed(storage, [
        { kind: "Light", uid: "l1", spec: {}, status: ready("True", "On") },
        { kind: "Light", uid: "l2", spec: {}, status: ready("True", "On") },
      ]);
      await watching.output(/^\d\d:\d\d:\d\d {2}Light 2\/2 Ready .*█/m);
      watching.child.kill("SIGTERM");
      const exit = await watching.exited;
      expect(exit.code, exit.stderr).toBe(0);
      expect(exit.stdout).toMatch(/^Light: Ready over the last \d+ s \(one column per second\)\n2 ┤.*█/m);
    } finally {
      await storage.close();
    }
  });
});
