/**
 * V8 flags every Coffer node process runs with: package.json's `coffer` script and this CLI's `#!` line
 * pass them, and `npm run bench:p2p` runs itself and its node processes with them (test/p2p-cli.test.ts
 * checks that they agree).
 *
 * `--min-semi-space-size=16`: start the young generation at its 16 MiB maximum instead of growing it
 * from 1 MiB. Transfers allocate a buffer per 64 KiB socket read, Noise message and 256 KiB chunk; in a
 * small young generation they survive two scavenges, get promoted, and only a full mark-compact frees
 * them — V8's "external memory pressure" then started one every ~100 ms per node. Measured with
 * `npm run bench:p2p` (64 MiB to 8 peers at 10 MiB/s): 9.5 s without the flag, 7.1–7.6 s with it, and
 * the GC threads' CPU down from 6.0 s to 2.6 s.
 *
 * Nodes that run inside a Hardhat process (`npm run demo`, the tests) need no flag: loading Hardhat grows the
 * young generation to V8's maximum before any node starts, and it stays there while 64 KiB buffers churn
 * (measured: `new_space` 32 MiB from start to end of a 6 s churn under `hardhat run`, against 4 MiB under
 * plain tsx without the flag).
 */
export const NODE_V8_FLAGS = ["--min-semi-space-size=16"] as const;
