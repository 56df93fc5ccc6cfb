import { CofferError } from "../errors.js";

/** Errors of the p2p layer (store, protocols, download): CofferErrors whose `code` names the failure. */

/** The remote peer (or our own validation) rejected a protocol message. */
export class ProtocolError extends CofferError {
  override name = "ProtocolError";
}

/** A root the store does not know. */
export class UnknownRootError extends CofferError {
  override name = "UnknownRootError";
  constructor(rootHex: string, cause?: unknown) {
    super(`unknown root ${rootHex}`, { code: "unknown-root", cause });
  }
}

/** Received bytes do not match the commitment. */
export class VerificationError extends CofferError {
  override name = "VerificationError";
}

/** No peer can provide a root. */
export class NoProvidersError extends CofferError {
  override name = "NoProvidersError";
  constructor(rootHex: string) {
    super(`no providers found for root ${rootHex}`, { code: "no-providers" });
  }
}

/** The store could not write (disk full, permissions...). */
export class StoreWriteError extends CofferError {
  override name = "StoreWriteError";
}
