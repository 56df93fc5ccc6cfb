/**
 * The one error family of the node (as viem's BaseError): every error Coffer throws is a CofferError with a
 * one-line `shortMessage` that says what went wrong and what to do, optional `details`, a machine `code` (the
 * CLI maps codes to exit codes in one place, node/cli/coffer.ts) and the underlying `cause`, which `walk`
 * follows. The layers' families (ProofError, CofferChainError, the p2p errors) extend it with their own codes.
 */
export class CofferError extends Error {
  override name = "CofferError";
  /** The code of errors of this class when the thrower names none. */
  static defaultCode = "internal";
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly code: string;

  constructor(shortMessage: string, options: { code?: string; cause?: unknown; details?: string } = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, { cause: options.cause });
    this.shortMessage = shortMessage;
    this.details = options.details;
    this.code = options.code ?? (new.target as typeof CofferError).defaultCode;
  }

  /**
   * The first error along the `cause` chain (this one first) for which `matches` is true, or null; without
   * `matches`, the deepest cause.
   */
  walk(matches?: (error: unknown) => boolean): unknown {
    let error: unknown = this;
    for (let depth = 0; error !== undefined && error !== null && depth < 64; depth++) {
      if (matches?.(error)) return error;
      const cause = (error as { cause?: unknown }).cause;
      if (cause === undefined || cause === null) return matches ? null : error;
      error = cause;
    }
    return null;
  }
}
