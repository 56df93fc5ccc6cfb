import type { Address } from "viem";
import { lessorRegistryAbi } from "../abi/lessorRegistry.js";
import { CofferChainError } from "../errors.js";
import type { MarketActionContext } from "./market-call.js";

/** The lessor registered no multiaddr ending in /p2p/<peer id>: nobody can reach it. */
export class LessorUnreachableError extends CofferChainError {
  override name = "LessorUnreachableError";
  static override defaultCode = "not-found";
  constructor(readonly lessor: Address) {
    super(`lessor ${lessor} registered no /p2p/<peer id> multiaddr: it cannot be reached`, {
      details: "the lessor should update its registration with `coffer register --announce <multiaddr>`",
    });
  }
}

export interface LessorEndpoint {
  /** The libp2p peer id from the first registered multiaddr that names one. */
  peerId: string;
  /** Every registered multiaddr, to dial. */
  multiaddrs: readonly string[];
}

/**
 * Where to reach a registered lessor (LessorRegistry.getLessor): its peer id and multiaddrs. Read-only.
 * @throws LessorUnreachableError when no multiaddr names a peer id.
 */
export async function getLessorEndpoint(ctx: Pick<MarketActionContext, "publicClient" | "addresses">, params: { lessor: Address }): Promise<LessorEndpoint> {
  const info = await ctx.publicClient.readContract({ address: ctx.addresses.registry, abi: lessorRegistryAbi, functionName: "getLessor", args: [params.lessor] });
  const peerId = info.multiaddrs.map((a) => a.split("/p2p/")[1]).find((id) => id !== undefined && id.length > 0);
  if (peerId === undefined) throw new LessorUnreachableError(params.lessor);
  return { peerId, multiaddrs: info.multiaddrs };
}
