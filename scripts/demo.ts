/**
 * `npm run demo` (until the full demo exists): on an in-process chain, deploys Coffer, funds three
 * accounts from the faucet, registers them as lessors with their own libp2p peer ids, and prints
 * the registry's view of them.
 */
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { network } from "hardhat";
import { formatEther, parseEther } from "viem";
import { lessorRegistryAbi } from "../node/chain/abi/lessorRegistry.js";
import { mintFromFaucet } from "../node/chain/actions/mintFromFaucet.js";
import { registerLessor } from "../node/chain/actions/registerLessor.js";
import { deployCoffer } from "./lib/deploy-coffer.js";
import { clientsForAccount, formatBytes } from "./lib/network-cli.js";

const LESSORS = [
  { account: 1, stake: "1000", capacity: 500n << 30n, price: "0.0010", port: 4101 },
  { account: 2, stake: "2500", capacity: 2n << 40n, price: "0.0008", port: 4102 },
  { account: 3, stake: "5000", capacity: 10n << 40n, price: "0.0012", port: 4103 },
];

const connection = await network.create("hardhat");
try {
  const { deployment } = await deployCoffer(connection, { write: false });
  const registry = deployment.contracts.LessorRegistry.address;
  const token = deployment.contracts.CofferToken.address;
  console.log(`Deployed on the in-process chain: CofferToken ${token}, LessorRegistry ${registry}\n`);

  for (const lessor of LESSORS) {
    const clients = await clientsForAccount(connection, lessor.account);
    const peerId = peerIdFromPrivateKey(await generateKeyPair("Ed25519"));
    await mintFromFaucet(clients, { token, amount: parseEther(lessor.stake) });
    await registerLessor(clients, {
      registry,
      stake: parseEther(lessor.stake),
      capacityBytes: lessor.capacity,
      pricePerGiBPerEpoch: parseEther(lessor.price),
      peerId,
      multiaddrs: [`/ip4/127.0.0.1/tcp/${lessor.port}/p2p/${peerId.toString()}`],
    });
  }

  const publicClient = await connection.viem.getPublicClient();
  const count = await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "lessorCount" });
  const infos = await publicClient.readContract({
    address: registry,
    abi: lessorRegistryAbi,
    functionName: "lessorInfosPage",
    args: [0n, count],
  });
  const header = ["lessor", "peer id", "capacity", "CFR/GiB/epoch", "stake CFR", "listens on"];
  const rows = infos.map((info) => {
    const [listenAddr = "", peerId = ""] = info.multiaddrs[0]!.split("/p2p/");
    return [
      info.lessor,
      `${peerId.slice(0, 8)}…${peerId.slice(-6)}`,
      formatBytes(info.capacityBytes),
      formatEther(info.pricePerGiBPerEpoch),
      formatEther(info.freeStake + info.lockedStake),
      listenAddr,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  console.log(`${count} lessors registered:\n`);
  console.log(line(header));
  console.log(line(widths.map((width) => "-".repeat(width))));
  for (const row of rows) console.log(line(row));
} finally {
  await connection.close();
}
