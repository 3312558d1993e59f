import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/nats.global.ts"],
    // Worker-isolation tests load reconcilers from dist/: `npm test` builds first.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: more parallel files only add contention to timing-sensitive suites.
    maxWorkers: 2,
  },
});
