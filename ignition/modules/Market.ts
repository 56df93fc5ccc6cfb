import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { DEFAULT_MARKET_PARAMS, DEFAULT_POD_PARAMS } from "../market-defaults.js";

/**
 * Deploys the market system on top of an existing lessor registry (parameter `registry`, e.g. from the
 * registry team's Coffer module): MarketVault (holding the registry's stake token), StorageMarket and
 * DownloadMarket, and makes both markets vault operators.
 *
 * The registry must grant MARKET_ROLE to both markets (its admin does it; when combined with the Coffer module
 * via useModule, add `m.call(registry, "grantRole", [MARKET_ROLE, market])` there).
 *
 * Parameters (all optional except `registry`): admin (vault admin, default deployer), every field of
 * DEFAULT_MARKET_PARAMS and DEFAULT_POD_PARAMS by the same name.
 */
type ModuleBuilder = Parameters<Parameters<typeof buildModule>[1]>[0];
/** A registry future: deployed in the same module or taken at an address. */
type RegistryFuture = Parameters<ModuleBuilder["staticCall"]>[0];

/**
 * The market contracts on top of `registry` (whose stake token is `token`): MarketVault, StorageMarket and
 * DownloadMarket, with both markets made vault operators. Shared by this module and `CofferSystem`.
 */
export function buildMarketContracts(m: ModuleBuilder, registry: RegistryFuture, token: unknown) {
  const admin = m.getParameter("admin", m.getAccount(0));

  const marketParams = {
    periodLength: m.getParameter("periodLength", DEFAULT_MARKET_PARAMS.periodLength),
    kPoSt: m.getParameter("kPoSt", DEFAULT_MARKET_PARAMS.kPoSt),
    kPoRep: m.getParameter("kPoRep", DEFAULT_MARKET_PARAMS.kPoRep),
    sealRounds: m.getParameter("sealRounds", DEFAULT_MARKET_PARAMS.sealRounds),
    porepTimeout: m.getParameter("porepTimeout", DEFAULT_MARKET_PARAMS.porepTimeout),
    maxMisses: m.getParameter("maxMisses", DEFAULT_MARKET_PARAMS.maxMisses),
    missSlashBps: m.getParameter("missSlashBps", DEFAULT_MARKET_PARAMS.missSlashBps),
    bountyBps: m.getParameter("bountyBps", DEFAULT_MARKET_PARAMS.bountyBps),
    repairBps: m.getParameter("repairBps", DEFAULT_MARKET_PARAMS.repairBps),
    collateralPerGiB: m.getParameter("collateralPerGiB", DEFAULT_MARKET_PARAMS.collateralPerGiB),
    challengeWindow: m.getParameter("challengeWindow", DEFAULT_MARKET_PARAMS.challengeWindow),
    challengeBond: m.getParameter("challengeBond", DEFAULT_MARKET_PARAMS.challengeBond),
    minSegments: m.getParameter("minSegments", DEFAULT_MARKET_PARAMS.minSegments),
    minSectorLog: m.getParameter("minSectorLog", DEFAULT_MARKET_PARAMS.minSectorLog),
    maxSectorLog: m.getParameter("maxSectorLog", DEFAULT_MARKET_PARAMS.maxSectorLog),
  };
  const podParams = {
    commitTimeout: m.getParameter("commitTimeout", DEFAULT_POD_PARAMS.commitTimeout),
    receiptTimeout: m.getParameter("receiptTimeout", DEFAULT_POD_PARAMS.receiptTimeout),
    revealTimeout: m.getParameter("revealTimeout", DEFAULT_POD_PARAMS.revealTimeout),
    disputeWindow: m.getParameter("disputeWindow", DEFAULT_POD_PARAMS.disputeWindow),
  };

  // The vault's admin is the deployer while the module grants roles; pass `admin` to hand it over.
  const vault = m.contract("MarketVault", [token as never, m.getAccount(0)]);
  const market = m.contract("StorageMarket", [registry, vault, marketParams]);
  const downloads = m.contract("DownloadMarket", [market, podParams]);
  const operatorRole = m.staticCall(vault, "OPERATOR_ROLE", []);
  m.call(vault, "grantRole", [operatorRole, market], { id: "grantOperatorStorage" });
  m.call(vault, "grantRole", [operatorRole, downloads], { id: "grantOperatorDownload" });
  const adminRole = m.staticCall(vault, "DEFAULT_ADMIN_ROLE", []);
  m.call(vault, "grantRole", [adminRole, admin], { id: "grantVaultAdmin" });
  return { vault, market, downloads };
}

export default buildModule("Market", (m) => {
  const registry = m.contractAt("ILessorRegistry", m.getParameter<string>("registry"));
  const token = m.staticCall(registry, "stakeToken", []);
  return buildMarketContracts(m, registry, token);
});
