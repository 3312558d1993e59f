import { describe, expect, it } from "vitest";
import { NatsOutageReporter } from "../../src/cli/nats-outage-reporter.js";
import { NatsServer } from "../helpers/nats-server.js";
import { startConverge } from "./child-process.js";

describe("NatsOutageReporter", () => {
  it("prints one line when NATS goes away and one when it is back, with how long it was away", () => {
    const lines: string[] = [];
    let now = 1_000;
    const reporter = new NatsOutageReporter((line) => lines.push(line), () => now);
    reporter.observe({ type: "disconnect", server: "127.0.0.1:4222" });
    expect(reporter.unavailable).toBe(true);
    now += 2_000;
    // Repeated attempts and disconnects while away say nothing more.
    reporter.observe({ type: "reconnecting" });
    reporter.observe({ type: "disconnect", server: "127.0.0.1:4222" });
    now += 2_500;
    reporter.observe({ type: "reconnect", server: "127.0.0.1:4222" });
    expect(reporter.unavailable).toBe(false);
    expect(lines).toEqual([
      "NATS unavailable: lost the connection to 127.0.0.1:4222; reconnecting (reconciles wait until it is back)",
      "NATS is back (127.0.0.1:4222) after 4.5 s away",
    ]);
  });
});

describe("converge demo --nats during an outage (real nats-server, child process)", () => {
  it("says when NATS goes away, shows it in the progress line, and says when it is back", async () => {
    const server = await NatsServer.start();
    // Every attempt fails: the run is still going through the whole outage, whatever the machine's speed.
    const demo = startConverge(["demo", "--nats", server.url, "--devices", "200", "--fail-rate", "1", "--timeout", "120"]);
    try {
      await demo.output(/converged, \d+ reconciles\/s/);
      await server.stop();
      await demo.output(/^NATS unavailable: lost the connection to 127\.0\.0\.1:\d+/m);
      await demo.output(/^0\/200 converged, NATS unavailable, /m);
      await server.restart();
      const [, seconds] = await demo.output(/^NATS is back \(127\.0\.0\.1:\d+\) after (\d+\.\d) s away$/m);
      expect(Number(seconds)).toBeGreaterThan(0);
      demo.child.kill("SIGTERM");
      const exit = await demo.exited;
      expect(exit.code, exit.stderr).toBe(143);
      expect(exit.stderr.match(/^NATS unavailable/gm)).toHaveLength(1);
      expect(exit.stderr.match(/^NATS is back/gm)).toHaveLength(1);
    } finally {
      demo.child.kill("SIGKILL");
      await server.remove();
    }
  }, 90_000);
});
