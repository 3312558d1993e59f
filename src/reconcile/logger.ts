/** Structured fields of a log line: `{ kind, uid, attempt, err }`. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Anything with these four methods is a logger: `console`, pino, winston.
 * The structured form is pino's `(mergingObject, message)` order, which
 * `console` takes too (it prints both): `logger.warn({ kind, uid, attempt, err }, "reconcile failed")`.
 * The older `(message, ...args)` form still type-checks while call sites move
 * over, and so does a logger written for it; an implementation should take
 * both (`first` is the fields object or the message).
 */
export interface Logger {
  debug(first: string | LogFields, ...rest: unknown[]): void;
  info(first: string | LogFields, ...rest: unknown[]): void;
  warn(first: string | LogFields, ...rest: unknown[]): void;
  error(first: string | LogFields, ...rest: unknown[]): void;
}

/** One of a logger's methods, as a value. */
export type LogMethod = Logger["info"];

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

export interface DefaultLoggerOptions {
  /** Lowest level written; `CONVERGE_LOG_LEVEL` overrides the default of "info". */
  level?: LogLevel;
  /** Where lines go; stderr for warn/error, stdout otherwise, by default. */
  write?: (line: string, level: Exclude<LogLevel, "silent">) => void;
}

/**
 * Fabrica's default logger, one line per call: `[INFO] message key=value …`.
 * Per-resource successes belong at debug, so the default level (info) stays
 * quiet for a fleet of any size. Old-style extra arguments are appended,
 * errors by their message.
 */
export function defaultLogger(options: DefaultLoggerOptions = {}): Logger {
  const level = options.level ?? levelFromEnv() ?? "info";
  const min = LOG_LEVELS.indexOf(level);
  const write = options.write ?? writeToConsole;
  const at = (l: Exclude<LogLevel, "silent">): LogMethod =>
    LOG_LEVELS.indexOf(l) < min ? noop : (first: string | LogFields, ...rest: unknown[]) => write(formatLog(l, first, rest), l);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

function noop(): void {}

function levelFromEnv(): LogLevel | undefined {
  const value = typeof process !== "undefined" ? process.env?.CONVERGE_LOG_LEVEL : undefined;
  return value && (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}

/** A call in either form as one line: `[WARN] message key=value …` or `[WARN] message arg …`. */
export function formatLog(level: string, first: string | LogFields, rest: readonly unknown[]): string {
  if (typeof first === "string") return formatLine(level, first, rest);
  const message = typeof rest[0] === "string" ? rest[0] : "";
  let line = `[${level.toUpperCase()}] ${message}`;
  for (const [key, value] of Object.entries(first)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  for (const arg of rest.slice(1)) line += ` ${formatArg(arg)}`;
  return line;
}

export function formatLine(level: string, message: string, args: readonly unknown[]): string {
  let line = `[${level.toUpperCase()}] ${message}`;
  for (const arg of args) line += ` ${formatArg(arg)}`;
  return line;
}

/** A field's value: bare when it is one word, else quoted, so `key=value` pairs stay parseable. */
function formatValue(value: unknown): string {
  const text = value instanceof Error ? value.message : typeof value === "string" ? value : formatArg(value);
  return text !== "" && /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

function formatArg(arg: unknown): string {
  if (arg instanceof Error) return arg.message;
  if (typeof arg === "string") return arg;
  try {
    return JSON.stringify(arg) ?? String(arg);
  } catch {
    return String(arg);
  }
}

function writeToConsole(line: string, level: Exclude<LogLevel, "silent">): void {
  if (level === "warn" || level === "error") console.error(line);
  else console.log(line);
}
