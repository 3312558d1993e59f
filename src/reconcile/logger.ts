/** Anything with these four methods is a logger: `console`, pino, winston. */
export interface Logger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

export interface DefaultLoggerOptions {
  /** Lowest level written; `CONVERGE_LOG_LEVEL` overrides the default of "info". */
  level?: LogLevel;
  /** Where lines go; stderr for warn/error, stdout otherwise, by default. */
  write?: (line: string, level: Exclude<LogLevel, "silent">) => void;
}

/**
 * Fabrica's default logger: `[INFO] message` lines. Extra arguments are
 * appended, errors by their message.
 */
export function defaultLogger(options: DefaultLoggerOptions = {}): Logger {
  const level = options.level ?? levelFromEnv() ?? "info";
  const min = LOG_LEVELS.indexOf(level);
  const write = options.write ?? writeToConsole;
  const at = (l: Exclude<LogLevel, "silent">) =>
    LOG_LEVELS.indexOf(l) < min
      ? noop
      : (message: string, ...args: unknown[]) => write(formatLine(l, message, args), l);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

function noop(): void {}

function levelFromEnv(): LogLevel | undefined {
  const value = typeof process !== "undefined" ? process.env?.CONVERGE_LOG_LEVEL : undefined;
  return value && (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}

export function formatLine(level: string, message: string, args: readonly unknown[]): string {
  let line = `[${level.toUpperCase()}] ${message}`;
  for (const arg of args) line += ` ${formatArg(arg)}`;
  return line;
}

function formatArg(arg: unknown): string {
  if (arg instanceof Error) return arg.message;
  if (typeof arg === "string") return arg;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

function writeToConsole(line: string, level: Exclude<LogLevel, "silent">): void {
  if (level === "warn" || level === "error") console.error(line);
  else console.log(line);
}
