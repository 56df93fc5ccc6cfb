import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import CofferModule, { MARKET_ROLE } from "./Coffer.js";
import { buildMarketContracts } from "./Market.js";

/**
 * The whole Coffer system: token + lessor registry (module `Coffer`, parameters minStake, unbondingDelay,
 * faucetEnabled, initialSupply) and the market contracts (parameters under `CofferSystem`: periodLength,
 * kPoSt, kPoRep, sealRounds, porepTimeout, maxMisses, slash shares, collateralPerGiB, PoD timeouts), with
 * both markets granted the registry's MARKET_ROLE.
 */
export default buildModule("CofferSystem", (m) => {
  const { token, registry } = m.useModule(CofferModule);
  const { vault, market, downloads } = buildMarketContracts(m, registry, token);
  m.call(registry, "grantRole", [MARKET_ROLE, market], { id: "grantMarketRoleStorage" });
  m.call(registry, "grantRole", [MARKET_ROLE, downloads], { id: "grantMarketRoleDownload" });
  return { token, registry, vault, market, downloads };
});
