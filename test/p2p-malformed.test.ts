import assert from "node:assert/strict";
import type { PeerId } from "@libp2p/interface";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Uint8ArrayList } from "uint8arraylist";
import { ProtocolError } from "../node/p2p/errors.js";
import { encodeFrame, FramedStream } from "../node/p2p/framing.js";
import type { CofferNode } from "../node/assembly/coffer-node.js";
import { CHALLENGE_PROTOCOL } from "../node/protocols/challenge/constants.js";
import { verifyOpenings } from "../node/protocols/challenge/index.js";
import { FETCH_MAX_FRAME, FETCH_PROTOCOL } from "../node/protocols/fetch/constants.js";
import { HAVE_PROTOCOL } from "../node/protocols/have/constants.js";
import { NEIGHBOURS_PROTOCOL } from "../node/protocols/neighbours/constants.js";
import { PROBE_PROTOCOL } from "../node/protocols/probe/constants.js";
import { UPLOAD_PROTOCOL, UPLOAD_WINDOW } from "../node/protocols/upload/constants.js";
import { Harness, hexToBytes } from "./helpers/p2p-harness.js";

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Uint8Array.from(out);
}

/** Length-prefixed frame with an arbitrary header object. */
function frame(header: Record<string, unknown>, body?: Uint8Array): Uint8Array {
  const payload = encodeFrame(header as { t: string }, body).subarray();
  return new Uint8ArrayList(varint(payload.length), payload).subarray();
}

/** Length-prefixed raw payload (not a valid frame). */
function rawFrame(payload: Uint8Array): Uint8Array {
  return new Uint8ArrayList(varint(payload.length), payload).subarray();
}

/**
 * Sends raw bytes on a fresh stream and reads frames until the remote rejects (returns its error code),
 * resets without a frame ("reset"), or closes cleanly ("closed: <last t>").
 */
async function outcome(client: CofferNode, target: PeerId, protocol: string, bytes: Uint8Array[]): Promise<string> {
  const stream = await client.host.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5_000) });
  const framed = new FramedStream(stream, FETCH_MAX_FRAME);
  for (const b of bytes) stream.send(b);
  let last = "none";
  try {
    for (;;) last = (await framed.read(AbortSignal.timeout(5_000))).header.t;
  } catch (error) {
    if (error instanceof ProtocolError && error.code.startsWith("remote:")) return error.code.slice(7);
    if (stream.status === "reset" || stream.status === "aborted") return "reset";
    return `closed: ${last}`;
  } finally {
    stream.abort(new Error("test done"));
  }
}

describe("p2p malformed input: every protocol rejects it with a reason and keeps serving", function () {
  this.timeout(120_000);
  const harness = new Harness();
  let lessor: CofferNode;
  let client: CofferNode;
  let root: string;
  let bytes: Buffer;
  const zeroRoot = "0x" + "00".repeat(32);

  before(async () => {
    lessor = await harness.node({ role: "lessor" });
    client = await harness.node({ role: "user" });
    await client.connect(lessor.addresses()[0]);
    const file = await harness.file(700 * 1024);
    bytes = file.bytes;
    root = (await lessor.add(file.path)).root;
  });
  after(() => harness.cleanup());

  /** After each case the lessor must still serve a well-formed request. */
  afterEach(async () => {
    const { bits } = await client.have.query(lessor.peerId, hexToBytes(root), AbortSignal.timeout(5_000));
    assert.equal(bits[0] & 0xe0, 0xe0);
  });

  const oversized = () => new Uint8ArrayList(varint(FETCH_MAX_FRAME + 1), new Uint8Array(1024)).subarray();

  for (const protocol of [FETCH_PROTOCOL, HAVE_PROTOCOL, UPLOAD_PROTOCOL, NEIGHBOURS_PROTOCOL, CHALLENGE_PROTOCOL, PROBE_PROTOCOL]) {
    it(`${protocol}: oversized frame -> frame-too-large`, async () => {
      assert.equal(await outcome(client, lessor.peerId, protocol, [oversized()]), "frame-too-large");
    });
    it(`${protocol}: payload that is not a frame -> bad-frame`, async () => {
      assert.equal(await outcome(client, lessor.peerId, protocol, [rawFrame(Uint8Array.from([0, 200, 1, 2, 3]))]), "bad-frame");
      assert.equal(await outcome(client, lessor.peerId, protocol, [rawFrame(new Uint8Array([0, 3, 0x7b, 0x7d, 0x5d]))]), "bad-frame");
    });
    it(`${protocol}: unknown message type -> bad-type`, async () => {
      assert.equal(await outcome(client, lessor.peerId, protocol, [frame({ t: "bogus", root })]), "bad-type");
    });
  }

  it("fetch: bad root, unknown root, negative / huge / fractional index", async () => {
    assert.equal(await outcome(client, lessor.peerId, FETCH_PROTOCOL, [frame({ t: "chunk", root: "0x1234", index: 0 })]), "bad-root");
    assert.equal(await outcome(client, lessor.peerId, FETCH_PROTOCOL, [frame({ t: "chunk", root: zeroRoot, index: 0 })]), "unknown-root");
    assert.equal(await outcome(client, lessor.peerId, FETCH_PROTOCOL, [frame({ t: "manifest", root: zeroRoot })]), "unknown-root");
    for (const index of [-1, 3, 2 ** 60, 1.5, "0"]) {
      assert.equal(await outcome(client, lessor.peerId, FETCH_PROTOCOL, [frame({ t: "chunk", root, index })]), "bad-index", `index ${index}`);
    }
    // A good request on the same stream after an unknown-root answer still works.
    const session = await client.fetch.open(lessor.peerId, AbortSignal.timeout(5_000));
    await assert.rejects(session.manifest(hexToBytes(zeroRoot), AbortSignal.timeout(5_000)), (e: ProtocolError) => e.code === "remote:unknown-root");
    const { chunkRoots } = await session.manifest(hexToBytes(root), AbortSignal.timeout(5_000));
    assert.equal(chunkRoots.length, 3 * 32);
    const chunk = await session.chunk(hexToBytes(root), 2, AbortSignal.timeout(5_000));
    assert.deepEqual(Buffer.from(chunk.bytes), bytes.subarray(2 * 262144));
    session.close();
  });

  it("have: bad root and unknown root", async () => {
    assert.equal(await outcome(client, lessor.peerId, HAVE_PROTOCOL, [frame({ t: "have", root: 42 })]), "bad-root");
    assert.equal(await outcome(client, lessor.peerId, HAVE_PROTOCOL, [frame({ t: "have", root: zeroRoot })]), "unknown-root");
    assert.equal(await outcome(client, lessor.peerId, HAVE_PROTOCOL, [frame({ t: "subscribe", root: "0x12" })]), "bad-root");
    assert.equal(await outcome(client, lessor.peerId, HAVE_PROTOCOL, [frame({ t: "watch", root })]), "bad-type");
    await assert.rejects(client.have.subscribe(lessor.peerId, hexToBytes(zeroRoot), AbortSignal.timeout(5_000), () => undefined), (e: ProtocolError) => e.code === "remote:unknown-root");
  });

  it("have: a subscription pushes the bitfield now and again when a chunk arrives", async () => {
    const file = await harness.file(600 * 1024);
    const newRoot = hexToBytes((await lessor.add(file.path)).root);
    const manifest = lessor.store.manifest(newRoot);
    await client.store.declare(newRoot, file.bytes.length, manifest);
    // The lessor subscribes to the client, which then stores chunk 1.
    const pushes: Uint8Array[] = [];
    const controller = new AbortController();
    const done = lessor.have.subscribe(client.peerId, newRoot, controller.signal, ({ chunkCount, bits }) => {
      assert.equal(chunkCount, 3);
      pushes.push(bits);
    });
    const until = async (n: number) => { for (let i = 0; i < 100 && pushes.length < n; i++) await new Promise((r) => setTimeout(r, 20)); };
    await until(1);
    assert.equal(pushes[0][0], 0, "nothing held yet");
    const session = await client.fetch.open(lessor.peerId, AbortSignal.timeout(5_000));
    const chunk = await session.chunk(newRoot, 1, AbortSignal.timeout(5_000));
    session.close();
    await client.store.writeChunk(newRoot, 1, chunk.bytes);
    await until(2);
    assert.equal(pushes.length, 2);
    assert.equal(pushes[1][0], 0x40, "chunk 1 pushed");
    controller.abort();
    await assert.rejects(done);
  });

  it("upload: bad size, bad manifest, refused by a user, chunk that does not verify", async () => {
    const manifest = lessor.store.manifest(root);
    const newFile = await harness.file(300 * 1024);
    const other = await client.store.importFile(newFile.path);
    const otherManifest = client.store.manifest(other.root);
    assert.equal(await outcome(client, lessor.peerId, UPLOAD_PROTOCOL, [frame({ t: "offer", root: other.root, size: -5 }, otherManifest)]), "bad-size");
    assert.equal(await outcome(client, lessor.peerId, UPLOAD_PROTOCOL, [frame({ t: "offer", root: other.root, size: other.size }, manifest.subarray(0, 64))]), "bad-manifest");
    await assert.rejects(outcome(lessor, client.peerId, UPLOAD_PROTOCOL, []), { name: "UnsupportedProtocolError" }, "a user has no upload handler");
    const picky = await harness.node({ role: "lessor", acceptUpload: () => false });
    await client.connect(picky.addresses()[0]);
    assert.equal(await outcome(client, picky.peerId, UPLOAD_PROTOCOL, [frame({ t: "offer", root: other.root, size: other.size }, otherManifest)]), "refused");
    const badChunk = new Uint8Array(262144 + 32);
    assert.equal(await outcome(client, lessor.peerId, UPLOAD_PROTOCOL, [
      frame({ t: "offer", root: other.root, size: other.size }, otherManifest),
      frame({ t: "chunk", index: 0, siblings: 1 }, badChunk),
    ]), "bad-chunk");
    assert.equal(await outcome(client, lessor.peerId, UPLOAD_PROTOCOL, [
      frame({ t: "offer", root: other.root, size: other.size }, otherManifest),
      frame({ t: "chunk", index: 7, siblings: 1 }, badChunk),
    ]), "bad-index");
    assert.equal(lessor.store.info(other.root)?.completeChunks, 0, "nothing unverified was stored");
  });

  it("upload: a sender that runs more than the window ahead of its acks is rejected with window-exceeded", async () => {
    // A lessor whose syncs are slow, so no ack is out before the extra chunk arrives.
    const slow = await harness.node({ role: "lessor", store: { syncData: async (handle) => { await new Promise((r) => setTimeout(r, 300)); await handle.datasync(); } } });
    await client.connect(slow.addresses()[0]);
    const file = await harness.file(10 * 262144);
    const info = await client.store.importFile(file.path);
    const frames = [frame({ t: "offer", root: info.root, size: info.size }, client.store.manifest(info.root))];
    for (let i = 0; i <= UPLOAD_WINDOW; i++) {
      const siblings = client.store.proof(info.root, i);
      const chunk = await client.store.readChunk(info.root, i);
      const body = new Uint8Array(siblings.length * 32 + chunk.length);
      siblings.forEach((s, j) => body.set(s, j * 32));
      body.set(chunk, siblings.length * 32);
      frames.push(frame({ t: "chunk", index: i, siblings: siblings.length }, body));
    }
    assert.equal(await outcome(client, slow.peerId, UPLOAD_PROTOCOL, frames), "window-exceeded");
  });

  it("challenge: bad indices, bad deadline, unknown root, out-of-range segment; a good one verifies", async () => {
    const c = (h: Record<string, unknown>) => outcome(client, lessor.peerId, CHALLENGE_PROTOCOL, [frame({ t: "challenge", root, indices: [0], deadlineMs: 1000, ...h })]);
    assert.equal(await c({ indices: [] }), "bad-index");
    assert.equal(await c({ indices: [-1] }), "bad-index");
    assert.equal(await c({ indices: Array(65).fill(0) }), "bad-index");
    assert.equal(await c({ deadlineMs: 0 }), "bad-deadline");
    assert.equal(await c({ deadlineMs: 10 ** 9 }), "bad-deadline");
    assert.equal(await c({ root: zeroRoot }), "unknown-root");
    assert.equal(await c({ indices: [700 * 1024 / 32] }), "bad-index");
    const result = await client.challenge.challenge(lessor.peerId, hexToBytes(root), [0, 5, 8191, 8192, 22399], 1_000);
    assert.equal(result.depth, 15);
    assert.ok(verifyOpenings(hexToBytes(root), result.depth, result.openings));
    assert.deepEqual(Buffer.from(result.openings[2].segment), bytes.subarray(8191 * 32, 8192 * 32));
    // A tampered opening does not verify.
    result.openings[0].segment[0] ^= 1;
    assert.ok(!verifyOpenings(hexToBytes(root), result.depth, result.openings));
  });

  it("challenge: a responder slower than the deadline makes the watcher's call fail in time", async () => {
    const slow = await harness.node({ role: "lessor", challengeResponder: (_req, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))) });
    await client.connect(slow.addresses()[0]);
    const started = performance.now();
    await assert.rejects(client.challenge.challenge(slow.peerId, hexToBytes(root), [0], 300));
    assert.ok(performance.now() - started < 1_500);
  });

  it("probe: size beyond the limit -> bad-size", async () => {
    assert.equal(await outcome(client, lessor.peerId, PROBE_PROTOCOL, [frame({ t: "probe", bytes: 1e12 })]), "bad-size");
  });

  it("a peer flooding requests gets reset and blocked while another peer is still served", async () => {
    const flooder = await harness.node({ role: "user" });
    const other = await harness.node({ role: "user" });
    await flooder.connect(lessor.addresses()[0]);
    await other.connect(lessor.addresses()[0]);
    const flood = Array.from({ length: 1000 }, () => frame({ t: "manifest", root }));
    const result = outcome(flooder, lessor.peerId, FETCH_PROTOCOL, flood);
    const out = join(await harness.dir(), "out.bin");
    await other.get(hexToBytes(root), out, { peers: [lessor.peerId] });
    assert.equal(await result, "rate-limited");
    assert.deepEqual(await readFile(out), bytes);
    // Still blocked right after: the next request is rejected too.
    assert.equal(await outcome(flooder, lessor.peerId, FETCH_PROTOCOL, [frame({ t: "manifest", root })]), "rate-limited");
  });
});
