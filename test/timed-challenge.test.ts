/** Signed timed challenges (docs/protocol.md §7): the responder and challenger on real libp2p, bad inputs included. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Harness, mesh } from "./helpers/p2p-harness.js";
import { newAccount } from "./helpers/attack-setup.js";
import { InMemoryTree, sealBytes, toHex, type SegmentOpening, type SegmentSource } from "../node/proofs/index.js";
import { TimedChallengeResponder } from "../node/roles/timed-challenge-responder.js";
import { TimedChallenger, stratifiedIndices } from "../node/roles/timed-challenger.js";
import { answerDigest, openingsHash, recoverSigner } from "../node/roles/challenge-signatures.js";

const SIZE = 64 * 1024;

/** A replica source that flips a byte of every segment it opens (a lessor answering garbage). */
function corrupting(source: SegmentSource): SegmentSource {
  return {
    layout: source.layout,
    root: source.root,
    openSegment: async (i) => flip(await source.openSegment(i)),
    openSegments: async (is) => (await source.openSegments(is)).map(flip),
  };
}
function flip(o: SegmentOpening): SegmentOpening {
  const segment = new Uint8Array(o.segment);
  segment[0] ^= 1;
  return { ...o, segment };
}

describe("timed challenges: signed answers over /coffer/challenge/1.0.0", function () {
  this.timeout(60_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("accepts a signed correct answer, flags wrong, mis-signed and refused ones, and keeps evidence", async function () {
    const replica = new InMemoryTree(sealBytes(new Uint8Array(randomBytes(SIZE)), new Uint8Array(32).fill(9)));
    const other = new InMemoryTree(new Uint8Array(randomBytes(SIZE)));
    const lessorKey = newAccount();
    const impostorKey = newAccount();
    const honest = new TimedChallengeResponder({ account: lessorKey });
    honest.add({ source: replica });
    const liar = new TimedChallengeResponder({ account: lessorKey });
    liar.add({ source: corrupting(replica) });
    const impostor = new TimedChallengeResponder({ account: impostorKey }); // signs with a key that is not the lessor's
    impostor.add({ source: replica });
    const strict = new TimedChallengeResponder({ account: lessorKey, requireSignedChallenges: true });
    strict.add({ source: replica });
    const nodes = await Promise.all([honest, liar, impostor, strict].map((r) => harness.node({ role: "lessor", challengeResponder: r.responder })));
    const watcherNode = await harness.node({ role: "watcher" });
    await mesh([watcherNode, ...nodes]);
    const [honestNode, liarNode, impostorNode, strictNode] = nodes;

    const challenger = new TimedChallenger({ challenges: watcherNode.challenge, account: newAccount(), deadlineMs: 2_000, graceMs: 1_000 });
    const watched = (peer: typeof honestNode, root: Uint8Array = replica.root) => ({ lessor: lessorKey.address, peer: peer.peerId, commR: root, size: SIZE });
    const ok = await challenger.challenge(watched(honestNode));
    assert.equal(ok.status, "ok", ok.reason);
    assert.equal(ok.indices.length, 4);
    assert.equal((await challenger.challenge(watched(strictNode))).status, "ok", "a signed challenge passes a strict responder");
    const wrong = await challenger.challenge(watched(liarNode));
    assert.equal(wrong.status, "wrong");
    assert.match(wrong.reason!, /do not verify/);
    const misSigned = await challenger.challenge(watched(impostorNode));
    assert.equal(misSigned.status, "wrong");
    assert.match(misSigned.reason!, /not the lessor/);
    const unknown = await challenger.challenge(watched(honestNode, other.root));
    assert.equal(unknown.status, "unanswered");
    assert.match(unknown.reason!, /not held/);

    const stats = challenger.statsOf(lessorKey.address);
    assert.deepEqual([stats.challenges, stats.ok, stats.wrong, stats.unanswered, stats.late], [5, 2, 2, 1, 0]);
    assert.deepEqual(challenger.suspects(), [lessorKey.address]);
    // Evidence of the wrong answer is signed by the lessor: recoverable by anyone.
    const [evidence] = challenger.evidence(lessorKey.address);
    assert.equal(evidence.kind, "wrong");
    const body = Buffer.from(evidence.answer.openings.slice(2), "hex");
    const per = (1 + evidence.answer.depth) * 32;
    const openings = evidence.challenge.indices.map((index, k) => ({
      index,
      segment: body.subarray(k * per, k * per + 32),
      siblings: Array.from({ length: evidence.answer.depth }, (_, j) => body.subarray(k * per + 32 * (j + 1), k * per + 32 * (j + 2))),
    }));
    const digest = answerDigest({ ...evidence.challenge, openingsHash: openingsHash(openings, evidence.answer.depth), answeredAt: evidence.answer.answeredAt! });
    assert.equal(await recoverSigner(digest, evidence.answer.signature!), lessorKey.address);

    // Unsigned challenges: a strict responder refuses them; an index beyond the replica is refused too.
    await assert.rejects(watcherNode.challenge.challenge(strictNode.peerId, replica.root, [1], 1_000), /signed by a watcher|unsigned-challenge/);
    await assert.rejects(watcherNode.challenge.challenge(honestNode.peerId, replica.root, [SIZE / 32], 1_000), /beyond the replica|bad-index/);
    const unsigned = await watcherNode.challenge.challenge(honestNode.peerId, replica.root, [1, 2], 1_000);
    assert.ok(unsigned.signature !== undefined, "unsigned challenges still get signed answers (zero nonce)");
    assert.equal(toHex(unsigned.openings[0].segment).length, 66);
  });

  it("stratified indices: one per quarter, the largest in the last quarter", function () {
    for (let trial = 0; trial < 200; trial++) {
      const indices = stratifiedIndices(1_000_003, 4);
      indices.forEach((i, j) => assert.ok(i >= Math.floor((j * 1_000_003) / 4) && i < Math.floor(((j + 1) * 1_000_003) / 4)));
    }
    assert.equal(stratifiedIndices(2, 4).every((i) => i >= 0 && i < 2), true);
    assert.throws(() => new TimedChallenger({ challenges: { challenge: async () => { throw new Error("unused"); } }, account: newAccount(), kTimed: 0 }), RangeError);
  });
});
