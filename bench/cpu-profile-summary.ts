// `node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]`: the functions
// with the most self time in a `node --cpu-prof` profile, for finding what a
// missed target spends its time on.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

/** Self time per function (by name and location), largest first. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, { name: string; where: string; us: number }>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    all += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, "$1/")}:${lineNumber + 1}` : "";
    const key = `${functionName}@${where}`;
    const entry = totals.get(key) ?? { name: functionName || "(anonymous)", where, us: 0 };
    entry.us += us;
    totals.set(key, entry);
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, share: all > 0 ? e.us / all : 0 }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  const top = Number(process.argv[3] ?? 25);
  if (!file) {
    console.error("usage: node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]");
    process.exit(2);
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, "utf8")) as CpuProfile).slice(0, top);
  for (const r of rows) console.log(`${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}  ${r.where}`);
}
