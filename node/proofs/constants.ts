/** Protocol constants from docs/protocol.md §2 and §4. */

/** A segment is the Merkle leaf and the unit of sealing and challenges. */
export const SEGMENT_SIZE = 32;
/** A chunk is the unit of transfer: a subtree of height {@link CHUNK_HEIGHT}. */
export const CHUNK_SIZE = 256 * 1024;
export const SEGMENTS_PER_CHUNK = CHUNK_SIZE / SEGMENT_SIZE; // 8192
export const CHUNK_HEIGHT = 13;
/** Pages (8 KiB) are the unit of the kept tree cache: nodes at heights >= PAGE_HEIGHT are stored. */
export const PAGE_HEIGHT = 8;
export const SEGMENTS_PER_PAGE = 1 << PAGE_HEIGHT; // 256
export const PAGE_SIZE = SEGMENTS_PER_PAGE * SEGMENT_SIZE; // 8 KiB
/** Sealing back-edge window, in segments (one chunk). */
export const SEAL_WINDOW = 8192;
