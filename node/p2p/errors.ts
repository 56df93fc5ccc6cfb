/**
 * Typed errors of the p2p node (viem style): a short human message, a machine `code`, and the `cause`.
 */
export class BaseError extends Error {
  override name = "CofferError";
  readonly shortMessage: string;
  readonly code: string;

  constructor(shortMessage: string, options: { code: string; cause?: unknown; details?: string } ) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, { cause: options.cause });
    this.shortMessage = shortMessage;
    this.code = options.code;
  }
}

/** The remote peer (or our own validation) rejected a protocol message. */
export class ProtocolError extends BaseError {
  override name = "ProtocolError";
}

/** A root the store does not know. */
export class UnknownRootError extends BaseError {
  override name = "UnknownRootError";
  constructor(rootHex: string, cause?: unknown) {
    super(`unknown root ${rootHex}`, { code: "unknown-root", cause });
  }
}

/** Received bytes do not match the commitment. */
export class VerificationError extends BaseError {
  override name = "VerificationError";
}

/** No peer can provide a root. */
export class NoProvidersError extends BaseError {
  override name = "NoProvidersError";
  constructor(rootHex: string) {
    super(`no providers found for root ${rootHex}`, { code: "no-providers" });
  }
}

/** The store could not write (disk full, permissions...). */
export class StoreWriteError extends BaseError {
  override name = "StoreWriteError";
}
