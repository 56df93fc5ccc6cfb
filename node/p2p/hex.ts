/** 32-byte roots travel as 0x-prefixed lowercase hex in headers and keys (written with proofs/words' toHex). */
/** Parses a 0x-prefixed 32-byte hex root; returns undefined when it is not exactly that. */
export function parseRoot(value: unknown): Uint8Array | undefined {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(value)) return undefined;
  return new Uint8Array(Buffer.from(value.slice(2), "hex"));
}
