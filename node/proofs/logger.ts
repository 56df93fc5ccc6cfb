import { pino, type Logger } from "pino";

/** The proof engine's logger; callers may pass their own child logger in the options of long operations. */
export const proofsLogger: Logger = pino({ name: "coffer:proofs", level: process.env.COFFER_LOG ?? "warn" });
