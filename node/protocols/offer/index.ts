import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { isHex, type Address, type Hex } from "viem";
import { ProtocolError } from "../../p2p/errors.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { OFFER_LIMITS, OFFER_PROTOCOL, OFFER_TYPES } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/offer/1.0.0` — a user asks a lessor to store a deal, then tells it which slot it got:
 *   → { t: "quote", commD, size, replicas, durationPeriods, maxPricePerGiBPerPeriod }
 *   ← { t: "offer", lessor, offer: {…, prices as decimal strings}, signature }   (EIP-712, see OFFER_TYPES)
 *   → { t: "assign", dealId, replicaIndex }   (after createDeal)
 *   ← { t: "assigned" }   — the lessor checked the deal on-chain and will accept the upload of commD
 * Refusals are error frames (`too-expensive`, `no-capacity`, `unknown-deal`, `no-offer` ...).
 */
export interface QuoteRequest {
  commD: Hex;
  size: bigint;
  replicas: number;
  durationPeriods: number;
  maxPricePerGiBPerPeriod: bigint;
}

export interface SignedOffer {
  lessor: Address;
  commD: Hex;
  size: bigint;
  replicas: number;
  durationPeriods: number;
  pricePerGiBPerPeriod: bigint;
  collateralPerReplica: bigint;
  expiry: bigint;
  signature: Hex;
}

export interface Assignment {
  dealId: Hex;
  replicaIndex: number;
}

export interface OfferHandlers {
  quote(peer: PeerId, request: QuoteRequest): Promise<SignedOffer>;
  assign(peer: PeerId, assignment: Assignment): Promise<void>;
}

export interface OfferDeps {
  network: Network;
  logger?: Logger;
  /** Present on lessors only: a node without handlers only asks. */
  handlers?: OfferHandlers;
}

export { OFFER_PROTOCOL, OFFER_TYPES };

export class OfferService implements Startable {
  private readonly responder: FramedResponder;

  constructor(private readonly deps: OfferDeps, readonly limits: StreamLimits = OFFER_LIMITS) {
    this.responder = new FramedResponder(deps.network, OFFER_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    const handlers = this.deps.handlers;
    if (!handlers) return;
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t === "quote") {
        const offer = await handlers.quote(ctx.remotePeer, parseQuote(header));
        await ctx.framed.write({ t: "offer", ...encodeOffer(offer) } as { t: string }, undefined, ctx.idleSignal());
      } else if (header.t === "assign") {
        await handlers.assign(ctx.remotePeer, parseAssignment(header));
        await ctx.framed.write({ t: "assigned" }, undefined, ctx.idleSignal());
      } else {
        throw new ProtocolError("expected `quote` or `assign`", { code: "bad-type" });
      }
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** Asks `peer` for a signed offer (not yet verified: the caller checks the signer and the terms). */
  async quote(peer: PeerId, request: QuoteRequest, signal: AbortSignal): Promise<SignedOffer> {
    const { header } = await this.exchange(peer, {
      t: "quote",
      commD: request.commD,
      size: request.size.toString(),
      replicas: request.replicas,
      durationPeriods: request.durationPeriods,
      maxPricePerGiBPerPeriod: request.maxPricePerGiBPerPeriod.toString(),
    }, signal);
    if (header.t !== "offer") throw new ProtocolError("expected an `offer`", { code: "bad-response" });
    return decodeOffer(header);
  }

  async assign(peer: PeerId, assignment: Assignment, signal: AbortSignal): Promise<void> {
    const { header } = await this.exchange(peer, { t: "assign", dealId: assignment.dealId, replicaIndex: assignment.replicaIndex }, signal);
    if (header.t !== "assigned") throw new ProtocolError("expected `assigned`", { code: "bad-response" });
  }

  private async exchange(peer: PeerId, header: { t: string; [k: string]: unknown }, signal: AbortSignal) {
    const framed = await openFramed(this.deps.network, peer, OFFER_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write(header, undefined, signal);
      return await framed.read(signal);
    } finally {
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }
}

export function createOfferService(deps: OfferDeps, limits?: StreamLimits): OfferService {
  return new OfferService(deps, limits);
}

function word(value: unknown, field: string): Hex {
  if (typeof value !== "string" || !isHex(value) || value.length !== 66) throw new ProtocolError(`${field} must be 0x + 64 hex digits`, { code: "bad-field" });
  return value.toLowerCase() as Hex;
}

function uint(value: unknown, field: string, max: bigint): bigint {
  if (typeof value !== "string" && typeof value !== "number") throw new ProtocolError(`${field} must be an integer`, { code: "bad-field" });
  if (!/^\d{1,40}$/.test(String(value))) throw new ProtocolError(`${field} must be a non-negative integer`, { code: "bad-field" });
  const n = BigInt(value);
  if (n > max) throw new ProtocolError(`${field} must be at most ${max}`, { code: "bad-field" });
  return n;
}

function parseQuote(h: Record<string, unknown>): QuoteRequest {
  const replicas = Number(uint(h.replicas, "replicas", 10n));
  const durationPeriods = Number(uint(h.durationPeriods, "durationPeriods", 2n ** 32n - 1n));
  if (replicas < 1 || durationPeriods < 1) throw new ProtocolError("replicas and durationPeriods must be at least 1", { code: "bad-field" });
  return {
    commD: word(h.commD, "commD"),
    size: uint(h.size, "size", 2n ** 64n - 1n),
    replicas,
    durationPeriods,
    maxPricePerGiBPerPeriod: uint(h.maxPricePerGiBPerPeriod, "maxPricePerGiBPerPeriod", 2n ** 128n - 1n),
  };
}

function parseAssignment(h: Record<string, unknown>): Assignment {
  return { dealId: word(h.dealId, "dealId"), replicaIndex: Number(uint(h.replicaIndex, "replicaIndex", 9n)) };
}

function encodeOffer(o: SignedOffer) {
  return {
    lessor: o.lessor,
    commD: o.commD,
    size: o.size.toString(),
    replicas: o.replicas,
    durationPeriods: o.durationPeriods,
    pricePerGiBPerPeriod: o.pricePerGiBPerPeriod.toString(),
    collateralPerReplica: o.collateralPerReplica.toString(),
    expiry: o.expiry.toString(),
    signature: o.signature,
  };
}

function decodeOffer(h: Record<string, unknown>): SignedOffer {
  if (typeof h.lessor !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(h.lessor)) throw new ProtocolError("lessor must be an address", { code: "bad-field" });
  if (typeof h.signature !== "string" || !isHex(h.signature) || h.signature.length > 200) throw new ProtocolError("signature must be hex", { code: "bad-field" });
  return {
    lessor: h.lessor as Address,
    commD: word(h.commD, "commD"),
    size: uint(h.size, "size", 2n ** 64n - 1n),
    replicas: Number(uint(h.replicas, "replicas", 10n)),
    durationPeriods: Number(uint(h.durationPeriods, "durationPeriods", 2n ** 32n - 1n)),
    pricePerGiBPerPeriod: uint(h.pricePerGiBPerPeriod, "pricePerGiBPerPeriod", 2n ** 128n - 1n),
    collateralPerReplica: uint(h.collateralPerReplica, "collateralPerReplica", 2n ** 128n - 1n),
    expiry: uint(h.expiry, "expiry", 2n ** 64n - 1n),
    signature: h.signature as Hex,
  };
}

/** The EIP-712 domain of offers for one market. */
export function offerDomain(chainId: number, market: Address) {
  return { name: "Coffer", version: "1", chainId, verifyingContract: market } as const;
}

/** The typed-data message of an offer (what the lessor signs). */
export function offerMessage(o: Omit<SignedOffer, "signature" | "lessor">) {
  return {
    commD: o.commD,
    size: o.size,
    replicas: o.replicas,
    durationPeriods: o.durationPeriods,
    pricePerGiBPerPeriod: o.pricePerGiBPerPeriod,
    collateralPerReplica: o.collateralPerReplica,
    expiry: o.expiry,
  };
}
