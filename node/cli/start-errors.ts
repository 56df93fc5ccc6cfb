/** Start-up failures of `coffer start` turned into errors that say what to change (and map to exit codes). */
import { CofferError } from "../errors.js";

/** A listen address's port is taken by another process. */
export class PortInUseError extends CofferError {
  override name = "PortInUseError";
  constructor(readonly address: string, readonly port: number, dataDir: string, options: { cause?: unknown } = {}) {
    super(
      `port ${port} is already in use (listen address ${address}): another process listens there. ` +
        `Pick a free port with --listen ${address.replace(/\/tcp\/\d+/, "/tcp/<port>")} (or change "listen" in ${dataDir}/config.json; /tcp/0 picks any)`,
      { code: "port-in-use", ...options },
    );
  }
}

/** libp2p reports a taken port as UnsupportedListenAddressesError with the EADDRINUSE of each address in its message. */
export function explainStartError(error: unknown, dataDir: string): unknown {
  const text = String((error as Error)?.message ?? error);
  const match = /(\/ip[46]\/[^\s:]+\/tcp\/(\d+))[^\n]*EADDRINUSE/.exec(text);
  if (match) return new PortInUseError(match[1]!, Number(match[2]), dataDir, { cause: error });
  return error;
}
