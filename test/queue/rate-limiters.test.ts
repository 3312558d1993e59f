import { describe, expect, it } from "vitest";
import { BucketRateLimiter } from "../../src/queue/bucket-rate-limiter.js";
import { defaultControllerRateLimiter } from "../../src/queue/default-rate-limiter.js";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { FakeClock } from "../../src/queue/fake-clock.js";
import { ExponentialBackoffRateLimiter } from "../../src/queue/exponential-backoff-rate-limiter.js";
import { MaxOfRateLimiter } from "../../src/queue/max-of-rate-limiter.js";
import type { RateLimiter } from "../../src/queue/rate-limiter.js";

describe("ExponentialBackoffRateLimiter", () => {
  it("waits base * 2^n, capped at max, and counts requeues per item", () => {
    const l = new ExponentialBackoffRateLimiter(5, 100);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => l.when("a"))).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(l.numRequeues("a")).toBe(7);
    expect(l.when("b")).toBe(5); // items are independent
    expect(l.numRequeues("b")).toBe(1);
  });

  it("forget resets an item", () => {
    const l = new ExponentialBackoffRateLimiter(1, 1000);
    l.when("a");
    l.when("a");
    l.forget("a");
    expect(l.numRequeues("a")).toBe(0);
    expect(l.when("a")).toBe(1);
  });

  it("stays at max however many failures pile up (no overflow to Infinity or NaN)", () => {
    const l = new ExponentialBackoffRateLimiter(0.001, 1_000_000);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = l.when("a");
    expect(last).toBe(1_000_000);
    expect(l.numRequeues("a")).toBe(2000);
  });

  it("jitter stays within [d * (1 - jitter), d]", () => {
    for (const r of [0, 0.5, 0.999999]) {
      const l = new ExponentialBackoffRateLimiter(8, 64, { jitter: 0.25, random: () => r });
      const ds = [1, 2, 3, 4, 5].map(() => l.when("a"));
      [8, 16, 32, 64, 64].forEach((d, i) => {
        expect(ds[i]).toBeGreaterThanOrEqual(d * 0.75);
        expect(ds[i]).toBeLessThanOrEqual(d);
      });
    }
    const real = new ExponentialBackoffRateLimiter(100, 100, { jitter: 0.5 });
    const samples = Array.from({ length: 500 }, () => real.when("x"));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...samples)).toBeLessThanOrEqual(100);
    expect(new Set(samples).size).toBeGreaterThan(1); // it does jitter
  });

  it("rejects bad arguments with errors naming them", () => {
    expect(() => new ExponentialBackoffRateLimiter(0, 10)).toThrow(/ExponentialBackoffRateLimiter.baseMs: must be a positive finite number, got 0/);
    expect(() => new ExponentialBackoffRateLimiter(1, Infinity)).toThrow(/maxMs/);
    expect(() => new ExponentialBackoffRateLimiter(Number.NaN, 10)).toThrow(InvalidArgumentError);
    expect(() => new ExponentialBackoffRateLimiter(20, 10)).toThrow(/baseMs: must not exceed maxMs/);
    expect(() => new ExponentialBackoffRateLimiter(1, 10, { jitter: 1.5 })).toThrow(/options.jitter/);
    expect(() => new ExponentialBackoffRateLimiter("5" as unknown as number, 10)).toThrow(/got "5"/);
  });
});

describe("BucketRateLimiter", () => {
  it("allows a burst, then spaces tokens 1/qps apart, and refills with time", () => {
    const clock = new FakeClock({ startMs: 1000 });
    const l = new BucketRateLimiter(10, 3, { clock });
    expect([1, 2, 3].map(() => l.when("a"))).toEqual([0, 0, 0]);
    const waits = [1, 2, 3].map(() => l.when("b"));
    waits.forEach((w, i) => expect(w).toBeCloseTo(100 * (i + 1), 6));
    // 300 ms later the three reservations are paid off; a fourth waits 100 ms.
    clock.step(300);
    expect(l.when("a")).toBeCloseTo(100, 6);
    // After a long pause the bucket is full again, but never above burst.
    clock.step(10_000);
    expect([1, 2, 3].map(() => l.when("a"))).toEqual([0, 0, 0]);
    expect(l.when("a")).toBeCloseTo(100, 6);
    expect(l.numRequeues("a")).toBe(0);
    l.forget("a");
  });

  it("rejects bad arguments", () => {
    expect(() => new BucketRateLimiter(0, 1)).toThrow(/BucketRateLimiter.qps/);
    expect(() => new BucketRateLimiter(10, 0)).toThrow(/BucketRateLimiter.burst: must be a positive integer/);
    expect(() => new BucketRateLimiter(10, 1.5)).toThrow(InvalidArgumentError);
    expect(() => new BucketRateLimiter(10, 1, { clock: {} as FakeClock })).toThrow(/BucketRateLimiter.options.clock: must be a clock with a now method/);
  });
});

describe("MaxOfRateLimiter", () => {
  it("waits the longest, forgets in all, reports the most requeues", () => {
    const backoff = new ExponentialBackoffRateLimiter(1, 1000);
    const bucket = new BucketRateLimiter(10, 2, { clock: new FakeClock() });
    const l = new MaxOfRateLimiter(backoff, bucket);
    expect(l.when("a")).toBe(1); // backoff 1, bucket 0
    expect(l.when("a")).toBe(2); // backoff 2, bucket 0
    expect(l.when("a")).toBeCloseTo(100, 6); // backoff 4, bucket 100
    expect(l.numRequeues("a")).toBe(3);
    l.forget("a");
    expect(backoff.numRequeues("a")).toBe(0);
    expect(l.numRequeues("a")).toBe(0);
  });

  it("asks every limiter on each when", () => {
    const calls: string[] = [];
    const fake = (name: string, d: number): RateLimiter<string> => ({
      when: () => (calls.push(name), d),
      forget: () => {},
      numRequeues: () => 0,
    });
    expect(new MaxOfRateLimiter(fake("big", 50), fake("small", 5)).when("k")).toBe(50);
    expect(calls).toEqual(["big", "small"]);
  });

  it("needs at least one limiter, each a rate limiter", () => {
    expect(() => new MaxOfRateLimiter()).toThrow(/MaxOfRateLimiter.limiters: needs at least one/);
    expect(() => new MaxOfRateLimiter({} as RateLimiter<string>)).toThrow(/limiters\[0\]/);
  });
});

describe("defaultControllerRateLimiter", () => {
  it("is per-key exponential from 5 ms with no overall bucket", () => {
    const l = defaultControllerRateLimiter<string>();
    // Thousands of keys failing at once all retry after 5 ms (a shared 10 qps
    // bucket would push the last one out by minutes).
    for (let i = 0; i < 5000; i++) expect(l.when(`k${i}`)).toBe(5);
    expect(l.when("k0")).toBe(10);
    for (let i = 0; i < 30; i++) l.when("slow");
    expect(l.when("slow")).toBe(1_000_000);
  });
});
