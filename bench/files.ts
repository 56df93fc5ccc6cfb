/**
 * npm run bench:files — the files layer alone (no network, no chain): pack (hash + AES-256-GCM per chunk) and
 * unpack (decrypt + SHA-256 check + write) of one large file and of many small ones, with the peak RSS.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packVolume } from "../node/files/pack.js";
import { extractEntries, VolumeReader } from "../node/files/unpack.js";

const MiB = 1 << 20;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);

async function run(name: string, make: (dir: string) => Promise<number>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "coffer-bench-files-"));
  try {
    const src = join(root, "src");
    await mkdir(src);
    const bytes = await make(src);
    const secret = randomBytes(32);
    peak = process.memoryUsage().rss;
    let t = performance.now();
    const packed = await packVolume([src], join(root, "vol"), secret);
    const packMs = performance.now() - t;
    const packPeak = peak;
    peak = process.memoryUsage().rss;
    t = performance.now();
    const reader = await VolumeReader.open(packed.path, secret);
    const manifest = await reader.manifest();
    const out = join(root, "out");
    await mkdir(out);
    await extractEntries(reader, manifest.entries, out);
    await reader.close();
    const unpackMs = performance.now() - t;
    const rate = (ms: number) => (bytes / MiB / (ms / 1000)).toFixed(0);
    console.log(`${name}: ${manifest.entries.length} entries, ${(bytes / MiB).toFixed(1)} MiB in a ${(packed.physicalLength / MiB).toFixed(1)} MiB volume`);
    console.log(`  pack   ${(packMs / 1000).toFixed(2)} s (${rate(packMs)} MiB/s, files read twice), peak RSS ${(packPeak / MiB).toFixed(0)} MiB`);
    console.log(`  unpack ${(unpackMs / 1000).toFixed(2)} s (${rate(unpackMs)} MiB/s), peak RSS ${(peak / MiB).toFixed(0)} MiB`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await run("one 256 MiB file", async (dir) => {
  const block = randomBytes(16 * MiB);
  const { open } = await import("node:fs/promises");
  const fd = await open(join(dir, "big.bin"), "w");
  for (let i = 0; i < 16; i++) await fd.write(block);
  await fd.close();
  return 256 * MiB;
});
await run("2,000 files of 4 KiB in 20 folders", async (dir) => {
  for (let f = 0; f < 20; f++) {
    await mkdir(join(dir, `folder ${f}`));
    for (let i = 0; i < 100; i++) await writeFile(join(dir, `folder ${f}`, `file-${i}.txt`), randomBytes(4096));
  }
  return 2000 * 4096;
});
clearInterval(sampler);
