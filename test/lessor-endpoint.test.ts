/**
 * getLessorEndpoint (node/chain/actions): the one read of where a registered lessor is reached, shared by the
 * user's download and the watcher's timed challenge (it was parsed in three places).
 */
import assert from "node:assert/strict";
import { network } from "hardhat";
import { getLessorEndpoint, LessorUnreachableError } from "../node/chain/actions/getLessorEndpoint.js";
import { deployMarketSystem, testPeerId } from "./helpers/market-fixture.js";

const { viem } = await network.create();

describe("getLessorEndpoint: a registered lessor's peer id and multiaddrs", function () {
  it("reads the peer id from the registered /p2p/ multiaddr, and refuses a lessor that registered none", async function () {
    const system = await deployMarketSystem(viem);
    const publicClient = await viem.getPublicClient();
    const ctx = { publicClient, addresses: { market: system.market.address, registry: system.registry.address } } as unknown as Parameters<typeof getLessorEndpoint>[0];
    const { lessorA, registry, token } = system;
    // A lessor that announced a dialable address (the fixture's lessors registered none with a peer id).
    const [, , , , , , , , , announced] = await viem.getWalletClients();
    const PEER = "12D3KooWCJ99QrYi92RvdpPpdmvSLgz3Fe6huDfAoQoFKoe3xYzs";
    const addrs = ["/ip4/127.0.0.1/tcp/4999", `/ip4/127.0.0.1/tcp/4999/p2p/${PEER}`];
    await token.write.faucet([announced.account.address, 10n ** 21n]);
    await token.write.approve([registry.address, 10n ** 21n], { account: announced.account });
    await registry.write.register([10n ** 20n, 1n << 40n, 1n, testPeerId(announced.account.address), addrs], { account: announced.account });
    const endpoint = await getLessorEndpoint(ctx, { lessor: announced.account.address });
    assert.equal(endpoint.peerId, PEER, "from the first multiaddr that names one");
    assert.deepEqual(endpoint.multiaddrs, addrs, "every multiaddr, to dial");

    // The fixture's lessor A registered only /ip4/…/tcp/… addresses: nobody can reach it.
    assert.ok((await registry.read.getLessor([lessorA.account.address])).multiaddrs.every((a) => !a.includes("/p2p/")));
    await assert.rejects(getLessorEndpoint(ctx, { lessor: lessorA.account.address }), (error: unknown) => {
      assert.ok(error instanceof LessorUnreachableError);
      assert.equal(error.code, "not-found");
      assert.match(error.shortMessage, /registered no \/p2p\/<peer id> multiaddr/);
      return true;
    });
  });
});
