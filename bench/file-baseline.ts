import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

const MiB = 1024 * 1024;

/** A size argument such as 64MiB, 1GiB, 512k or a byte count. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(text.trim());
  if (!match) throw new Error(`--size: expected e.g. 64MiB, 1GiB or a byte count, got "${text}"`);
  const unit = (match[2] ?? "b").toLowerCase();
  const factor = unit.startsWith("g") ? 1024 * MiB : unit.startsWith("m") ? MiB : unit.startsWith("k") ? 1024 : 1;
  return Math.round(Number(match[1]) * factor);
}

/** The proofs benches' baseline: one streaming SHA-256 (node:crypto) over the file, read in 4 MiB blocks. */
export async function streamingSha256(path: string): Promise<string> {
  const handle = await open(path, "r");
  const hash = createHash("sha256");
  const block = new Uint8Array(4 * MiB);
  try {
    for (;;) {
      const { bytesRead } = await handle.read(block, 0, block.length, null);
      if (bytesRead === 0) break;
      hash.update(block.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}
