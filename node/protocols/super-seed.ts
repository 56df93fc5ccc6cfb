import { hasBit } from "../store/chunk-store.js";

/**
 * Super-seeding (BitTorrent's initial-seeding mode) for a node that is the first source of a file:
 * advertise (have) and serve only chunks it has not uploaded yet, until each chunk went out once, so its
 * scarce upload seeds distinct chunks and the peers swap the rest among themselves. Without it the seed
 * sends the same chunk to several peers before they learn of each other's copies.
 */
export class SuperSeeder {
  private readonly served = new Map<string, { counts: Uint8Array; unsent: number }>();

  private state(rootHex: string, chunkCount: number) {
    let s = this.served.get(rootHex);
    if (!s) this.served.set(rootHex, (s = { counts: new Uint8Array(chunkCount), unsent: chunkCount }));
    return s;
  }

  /** The bitfield to advertise: the chunks never sent, while some remain; then everything. */
  advertise(rootHex: string, chunkCount: number, bits: Uint8Array): Uint8Array {
    const s = this.state(rootHex, chunkCount);
    if (s.unsent === 0) return bits;
    const out = new Uint8Array(bits.length);
    for (let i = 0; i < chunkCount; i++) if (s.counts[i] === 0 && hasBit(bits, i)) out[i >> 3] |= 0x80 >> (i & 7);
    return out;
  }

  /** Chunks of the file never sent yet (0 once every chunk went out): changes whenever `advertise` does. */
  unsentCount(rootHex: string, chunkCount: number): number {
    return this.state(rootHex, chunkCount).unsent;
  }

  /** False when the chunk already went out and others have not (the requester should ask a peer). */
  shouldServe(rootHex: string, chunkCount: number, index: number): boolean {
    const s = this.state(rootHex, chunkCount);
    return s.unsent === 0 || s.counts[index] === 0;
  }

  recordServed(rootHex: string, chunkCount: number, index: number): void {
    const s = this.state(rootHex, chunkCount);
    if (s.counts[index] === 0) s.unsent--;
    if (s.counts[index] < 255) s.counts[index]++;
  }
}
