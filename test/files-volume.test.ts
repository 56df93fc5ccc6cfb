import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packVolume } from "../node/files/pack.js";
import { extractEntries, targetPath, VolumeReader } from "../node/files/unpack.js";
import { keysFromPhrase, newPhrase } from "../node/files/secret.js";
import { CAP0, physicalLengthOf, sealChunk, volumeKey } from "../node/files/volume-format.js";
import { CHUNK_SIZE } from "../node/proofs/constants.js";
import { treeOf } from "./helpers/tree.js";

describe("files: encrypted volumes (pack, manifest, unpack)", function () {
  let root: string;
  const secret = randomBytes(32);
  beforeEach(async () => (root = await mkdtemp(join(tmpdir(), "coffer-vol-"))));
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it("packs a folder with empty files, empty folders, spaces and non-ASCII names; restores it byte-identical; skips symlinks", async function () {
    const src = join(root, "my folder");
    await mkdir(join(src, "empty dir"), { recursive: true });
    await mkdir(join(src, "ünïcødé 文件"), { recursive: true });
    const marker = Buffer.from("PLAINTEXT-MARKER-" + randomBytes(8).toString("hex"));
    await writeFile(join(src, "a file with spaces.txt"), Buffer.concat([marker, randomBytes(1000)]));
    await writeFile(join(src, "empty.txt"), "");
    await writeFile(join(src, "ünïcødé 文件", "große Datei.bin"), randomBytes(CHUNK_SIZE * 2 + 17)); // spans chunks
    for (let i = 0; i < 40; i++) await writeFile(join(src, `small-${i}.txt`), randomBytes(7000 + i));
    await symlink(join(src, "empty.txt"), join(src, "link"));
    await writeFile(join(src, "back\\slash.txt"), "x");
    const packed = await packVolume([src], join(root, "vols"), secret);
    assert.deepEqual(packed.skipped.map((s) => s.path), [join(src, "back\\slash.txt"), join(src, "link")]);
    assert.equal((await stat(packed.path)).size, packed.physicalLength);
    assert.equal(packed.physicalLength % CHUNK_SIZE, 0, "whole chunks");
    const volumeBytes = await readFile(packed.path);
    assert.equal(volumeBytes.indexOf(marker), -1, "the marker is not in the volume");
    assert.equal(volumeBytes.indexOf(Buffer.from("a file with spaces")), -1, "file names are not in the volume");
    // Small files never straddle a chunk boundary (each is fetched with one chunk).
    for (const e of packed.manifest.entries.filter((e) => e.type === "file" && e.length > 0 && e.length < CAP0)) {
      const c0 = e.offset < CAP0 ? 0 : 1 + Math.floor((e.offset - CAP0) / (CHUNK_SIZE - 16));
      const c1 = e.offset + e.length - 1 < CAP0 ? 0 : 1 + Math.floor((e.offset + e.length - 1 - CAP0) / (CHUNK_SIZE - 16));
      assert.equal(c0, c1, `${e.path} in one chunk`);
    }
    const reader = await VolumeReader.open(packed.path, secret);
    const manifest = await reader.manifest();
    assert.deepEqual(manifest, packed.manifest);
    const out = join(root, "out");
    await mkdir(out);
    await extractEntries(reader, manifest.entries, out);
    await reader.close();
    const expected = await treeOf(root.replace(/$/, ""), "my folder");
    expected.delete("my folder/link");
    expected.delete("my folder/back\\slash.txt");
    expected.set("my folder", "dir");
    const got = await treeOf(out);
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [k, v] of expected) assert.deepEqual(got.get(k), v, k);
  });

  it("the same contents give the same volume (a retried put continues its deal); other contents another volume id", async function () {
    const f = join(root, "f.bin");
    await writeFile(f, randomBytes(5000));
    const a = await packVolume([f], join(root, "a"), secret);
    const b = await packVolume([f], join(root, "b"), secret);
    assert.deepEqual(await readFile(a.path), await readFile(b.path));
    await writeFile(f, randomBytes(5000));
    const c = await packVolume([f], join(root, "c"), secret);
    assert.notEqual(c.manifest.volumeId, a.manifest.volumeId);
  });

  it("refuses another user's key, an altered chunk and manifest paths escaping the output folder", async function () {
    const f = join(root, "f.bin");
    await writeFile(f, randomBytes(300_000));
    const packed = await packVolume([f], join(root, "v"), secret);
    await assert.rejects(VolumeReader.open(packed.path, randomBytes(32)), { name: "VolumeFormatError", code: "bad-volume" });
    const bytes = await readFile(packed.path);
    bytes[bytes.length - 100] ^= 1; // in the last chunk, which holds the manifest
    await writeFile(packed.path, bytes);
    const reader = await VolumeReader.open(packed.path, secret);
    await assert.rejects(reader.manifest(), { name: "VolumeFormatError" });
    await reader.close();
    // A manifest entry whose bytes do not hash to its sha256 is refused, and nothing is left behind.
    const good = await packVolume([f], join(root, "w"), secret);
    const r2 = await VolumeReader.open(good.path, secret);
    const entry = { ...(await r2.manifest()).entries[0]!, sha256: "00".repeat(32) };
    const out = join(root, "hash-out");
    await mkdir(out);
    await assert.rejects(extractEntries(r2, [entry], out), { code: "hash-mismatch" });
    await r2.close();
    assert.deepEqual(await readdir(out), []);
    for (const bad of ["../x", "/etc/passwd", "a/../../x", "a//b", "./a", "a\\..\\b"]) assert.throws(() => targetPath(root, bad), { name: "PathEscapeError" }, bad);
    assert.equal(targetPath(root, "a b/ü"), join(root, "a b", "ü"));
  });

  it("a phrase gives the same files secret and chain key every time; chunk keys differ per volume", function () {
    const phrase = newPhrase();
    assert.equal(phrase.split(" ").length, 24);
    const k1 = keysFromPhrase(phrase);
    const k2 = keysFromPhrase(` ${phrase.toUpperCase()} `);
    assert.deepEqual(k1, k2);
    assert.throws(() => keysFromPhrase(phrase.split(" ").reverse().join(" ")), { code: "bad-phrase" });
    const id1 = randomBytes(32);
    const id2 = randomBytes(32);
    const plain = Buffer.alloc(CAP0);
    assert.notDeepEqual(sealChunk(volumeKey(k1.filesSecret, id1), id1, 0, plain).subarray(32), sealChunk(volumeKey(k1.filesSecret, id2), id2, 0, plain).subarray(32));
    assert.equal(physicalLengthOf(CAP0), CHUNK_SIZE);
    assert.equal(physicalLengthOf(CAP0 + 1), 2 * CHUNK_SIZE);
  });
});
