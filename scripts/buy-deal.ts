/**
 * `npm run buy-deal -- <file> --replicas N --periods P --max-price X [--wait] [-d <user data dir>] [--json]`:
 * the same as `coffer buy-deal`, which asks the running user node (`coffer start --role user --rpc ...`).
 */
process.argv.splice(2, 0, "buy-deal");
await import("../node/cli/coffer.js");
