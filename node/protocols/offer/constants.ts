import type { StreamLimits } from "../serve.js";

export const OFFER_PROTOCOL = "/coffer/offer/1.0.0";
/** Quotes and assignments are small JSON headers without bodies. */
export const OFFER_MAX_FRAME = 4 * 1024;
/** How long a signed offer stays valid (seconds of chain time). */
export const OFFER_VALIDITY_SECONDS = 600;

export const OFFER_LIMITS: StreamLimits = {
  maxFrameSize: OFFER_MAX_FRAME,
  maxInboundStreams: 8,
  maxOutboundStreams: 8,
  idleTimeoutMs: 15_000,
  requestsPerSecond: 10,
};

/** EIP-712 type of a lessor's offer; the domain binds it to one chain and one StorageMarket. */
export const OFFER_TYPES = {
  Offer: [
    { name: "commD", type: "bytes32" },
    { name: "size", type: "uint64" },
    { name: "replicas", type: "uint8" },
    { name: "durationPeriods", type: "uint32" },
    { name: "pricePerGiBPerPeriod", type: "uint128" },
    { name: "collateralPerReplica", type: "uint128" },
    { name: "expiry", type: "uint64" },
  ],
} as const;
