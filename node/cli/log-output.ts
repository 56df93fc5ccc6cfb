import { pino, type DestinationStream, type Logger } from "pino";
import { PinoPretty } from "pino-pretty";

/**
 * Where a node's log lines go and how they look: one readable line per event when a person watches (a
 * terminal), JSON lines otherwise (a file, a pipe, a log shipper). `COFFER_LOG` is the one log variable (the
 * level: trace … error, silent); `COFFER_LOG_FORMAT=pretty|json` overrides the choice of format.
 */

export type LogFormat = "pretty" | "json";

/** The level from COFFER_LOG, else `fallback`. */
export function logLevel(fallback: string): string {
  return process.env.COFFER_LOG ?? fallback;
}

/** pretty on a terminal, json otherwise, unless COFFER_LOG_FORMAT says which. */
export function logFormatFor(stream: { isTTY?: boolean }): LogFormat {
  const chosen = process.env.COFFER_LOG_FORMAT;
  if (chosen === "pretty" || chosen === "json") return chosen;
  return stream.isTTY ? "pretty" : "json";
}

/**
 * A readable stream of log lines onto file descriptor `fd`: time, level, the role, the message, then the other
 * fields as key=value. An error shows its short message (one line), not its stack: the JSON logs keep the rest.
 */
export function prettyStream(fd: number, options: { colorize?: boolean } = {}): DestinationStream {
  return PinoPretty({
    destination: fd,
    sync: true,
    colorize: options.colorize ?? false,
    translateTime: "SYS:HH:MM:ss",
    // The error joins the message as one line (the JSON logs keep its stack and details).
    ignore: "pid,hostname,err",
    singleLine: true,
    errorLikeObjectKeys: [],
    messageFormat: (log, messageKey) => (log.err === undefined ? String(log[messageKey]) : `${String(log[messageKey])}: ${shortError(log.err)}`),
  });
}

/** The node's logger on stderr (stdout stays for the command's own output). */
export function createNodeLogger(fallbackLevel = "info"): Logger {
  const level = logLevel(fallbackLevel);
  if (logFormatFor(process.stderr) === "pretty") return pino({ level }, prettyStream(2, { colorize: process.stderr.isTTY }));
  return pino({ level }, pino.destination(2));
}

/** One line for a logged error: its short message (viem and Coffer errors carry one), else the first line. */
export function shortError(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  const error = value as { shortMessage?: unknown; message?: unknown; type?: unknown };
  const text = typeof error.shortMessage === "string" ? error.shortMessage : typeof error.message === "string" ? error.message : JSON.stringify(value);
  return text.split("\n")[0]!;
}
