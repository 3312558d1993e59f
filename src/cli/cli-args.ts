import { parseArgs, type ParseArgsConfig } from "node:util";
import * as v from "valibot";
import { fromParseArgsError } from "./demo-options.js";
import { UsageError } from "./usage-error.js";

export type FlagValues = Record<string, string | boolean | undefined>;

/**
 * Reads one command's flags and its positional arguments, named in `positionals`
 * (all required). `converge list Device -o json` → values `{ output: "json" }`,
 * positionals `{ kind: "Device" }`.
 * @throws UsageError naming the flag or the missing argument.
 */
export function parseCommandArgs<P extends string>(
  command: string,
  args: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals: readonly P[],
): { values: FlagValues; positionals: Record<P, string> } {
  let parsed: { values: FlagValues; positionals: string[] };
  const takes = positionals.length === 0 ? `${command} takes flags only` : `${command} takes ${positionals.map((p) => `<${p}>`).join(" ")}`;
  try {
    parsed = parseArgs({ args: [...args], strict: true, allowPositionals: true, options }) as typeof parsed;
  } catch (error) {
    throw fromParseArgsError(error, takes);
  }
  if (parsed.values.help === true) return { values: parsed.values, positionals: {} as Record<P, string> };
  if (parsed.positionals.length > positionals.length) {
    throw new UsageError(undefined, `unexpected argument ${JSON.stringify(parsed.positionals[positionals.length])}: ${takes}`);
  }
  const named = {} as Record<P, string>;
  positionals.forEach((name, i) => {
    const value = parsed.positionals[i];
    if (value === undefined) throw new UsageError(`<${name}>`, `is required: ${takes}`);
    named[name] = value;
  });
  return { values: parsed.values, positionals: named };
}

/**
 * Validates `input` with `schema`; the first issue becomes a UsageError naming
 * the flag (from `flags`, by the issue's key) and the value as typed.
 */
export function validateFlags<T>(schema: v.GenericSchema<unknown, T>, input: Record<string, unknown>, flags: Record<string, string>, show: (key: string) => string): T {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = String(issue.path?.[0]?.key ?? "");
  throw new UsageError(flags[key] ?? key, `${issue.message}, got ${show(key)}`);
}
