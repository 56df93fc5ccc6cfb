import { CofferError } from "../errors.js";

/**
 * Typed errors of the proof engine. Every error names what is wrong (`shortMessage`) and keeps the
 * underlying error (`cause`). A failed verification never changes anything on disk.
 */
export class ProofError extends CofferError {
  override name = "ProofError";
  static override defaultCode = "proof";
}

/** A file on disk is shorter (or longer) than its committed length. */
export class TruncatedFileError extends ProofError {
  override name = "TruncatedFileError";
  constructor(
    readonly path: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
    options: { cause?: unknown } = {},
  ) {
    super(`${path} holds ${actualBytes} bytes but its commitment covers ${expectedBytes}`, options);
  }
}

/** Stored bytes no longer hash to the kept tree (bit rot, tampering, a wrong file). */
export class CorruptFileError extends ProofError {
  override name = "CorruptFileError";
  constructor(
    readonly path: string,
    readonly segmentIndex: number | undefined,
    what = "file",
    options: { cause?: unknown; reason?: string } = {},
  ) {
    super(
      `${what} ${path} is corrupt: ${options.reason ?? `the page holding segment ${segmentIndex} does not match its kept tree`}`,
      options,
    );
  }
}

/** A stored sealed replica no longer matches its commR tree. */
export class CorruptReplicaError extends CorruptFileError {
  override name = "CorruptReplicaError";
  constructor(path: string, segmentIndex: number | undefined, options: { cause?: unknown; reason?: string } = {}) {
    super(path, segmentIndex, "replica", options);
  }
}

/** A kept tree-cache file is unreadable or inconsistent with itself; recompute it with commitFile. */
export class CorruptTreeCacheError extends ProofError {
  override name = "CorruptTreeCacheError";
  constructor(readonly path: string, reason: string, options: { cause?: unknown } = {}) {
    super(`tree cache ${path} is unusable (${reason}); recompute it with commitFile`, options);
  }
}

/** A root (commD, commR, commE, chunk root) is not the one expected. */
export class WrongRootError extends ProofError {
  override name = "WrongRootError";
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${what}: expected root ${expected}, got ${actual}`, options);
  }
}

/** An index (segment, chunk, replica) is outside its range. */
export class IndexOutOfRangeError extends ProofError {
  override name = "IndexOutOfRangeError";
  constructor(
    readonly what: string,
    readonly index: number | bigint,
    readonly limit: number | bigint,
    options: { cause?: unknown } = {},
  ) {
    super(`${what} ${index} is out of range: must be below ${limit}`, options);
  }
}

/** A proof or input has the wrong shape (length, word size). */
export class MalformedProofError extends ProofError {
  override name = "MalformedProofError";
}

/** A proof was checked and is wrong. */
export class InvalidProofError extends ProofError {
  override name = "InvalidProofError";
}

/** What is wrong with a sector's piece layout (docs/protocol.md §12.2), as StorageMarket.commitSector rejects it. */
export type SectorLayoutProblem =
  /** A piece is deeper than the one before it, or than the sector (MarketPiecesOutOfOrder). */
  | "out-of-order"
  /** The pieces need more segments than the sector has (MarketSectorOverfull). */
  | "overfull"
  /** The pieces do not fit even the largest sector size allowed. */
  | "too-large"
  /** A depth, size or offset is not a valid integer in range. */
  | "invalid";

/** A sector's pieces cannot be laid out as given (order, capacity, sizes). */
export class SectorLayoutError extends ProofError {
  override name = "SectorLayoutError";
  constructor(
    readonly problem: SectorLayoutProblem,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`sector layout (${problem}): ${detail}`, options);
  }
}

/** A PoSt draw lies past a lessor's proving sectors (ProofMath.ProofMathDrawBeyondProvingSet): the draw was not taken mod their total. */
export class DrawBeyondProvingSetError extends ProofError {
  override name = "DrawBeyondProvingSetError";
  constructor(readonly remainder: bigint, options: { cause?: unknown } = {}) {
    super(`PoSt draw lies ${remainder} segments past the lessor's proving sectors (draw it mod provingTotal)`, options);
  }
}

/** A long operation was stopped through its AbortSignal; partial output files were removed. */
export class ProofAbortedError extends ProofError {
  override name = "ProofAbortedError";
  constructor(what: string, options: { cause?: unknown } = {}) {
    super(`${what} was aborted`, options);
  }
}

/** Throws ProofAbortedError (`what` was aborted) once `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ProofAbortedError(what, { cause: signal.reason });
}
