import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { defaultWorkerFile } from "../../src/pool/worker-file.js";

describe("defaultWorkerFile", () => {
  it("finds the built worker beside an installed package", () => {
    expect(existsSync(defaultWorkerFile())).toBe(true);
  });

  it("from a module loaded over the network (a jsr: import), names the ways to run instead of failing on a file path", () => {
    let error: unknown;
    try {
      defaultWorkerFile("https://jsr.io/@converge/converge/0.1.0/src/pool/worker-file.ts");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("workerFile");
    expect((error as Error).message).toMatch(/https:\/\/jsr\.io.*npm:converge.*workerFile.*isolation: "inline"/);
  });
});
