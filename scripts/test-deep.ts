// `npm run test:deep`: every Solidity fuzz and invariant test with the `deep` test profile of hardhat.config.ts
// (10,000 runs, invariant depth 64), then the sums of the per-action counts the invariant handlers logged
// (one line per run: `Handler name=called/succeeded ...`), so a report can show which actions really ran.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
// Must match DEEP_ACTION_LOG in hardhat.config.ts (the only path the deep profile may write).
const actionLog = path.join(root, "cache/deep-actions.log");

mkdirSync(path.dirname(actionLog), { recursive: true });
rmSync(actionLog, { force: true });

const started = Date.now();
const code = await new Promise<number>((resolve, reject) => {
  const child = spawn(
    path.join(root, "node_modules/.bin/hardhat"),
    ["test", "solidity", "--test-profile", "deep", ...process.argv.slice(2)],
    { cwd: root, stdio: "inherit", env: { ...process.env, COFFER_ACTION_LOG: actionLog } },
  );
  child.on("error", reject);
  child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

type Counts = { called: number; succeeded: number };
const totals = new Map<string, { runs: number; actions: Map<string, Counts> }>();
if (existsSync(actionLog)) {
  for (const line of readFileSync(actionLog, "utf8").split("\n")) {
    const [handler, ...fields] = line.trim().split(" ");
    if (!handler) continue;
    const entry = totals.get(handler) ?? { runs: 0, actions: new Map<string, Counts>() };
    entry.runs += 1;
    for (const field of fields) {
      const [name, value] = field.split("=");
      const [called, succeeded] = value.split("/").map(Number);
      const counts = entry.actions.get(name) ?? { called: 0, succeeded: 0 };
      counts.called += called;
      counts.succeeded += succeeded;
      entry.actions.set(name, counts);
    }
    totals.set(handler, entry);
  }
}

console.log(`\nDeep run: ${minutes} min, exit code ${code}`);
if (totals.size === 0) console.log("No per-action counts were logged (no invariant run finished?).");
for (const [handler, { runs, actions }] of totals) {
  console.log(`\n${handler}: ${runs} runs (one line each in ${path.relative(root, actionLog)})`);
  console.log(`${"action".padEnd(20)} ${"called".padStart(10)} ${"succeeded".padStart(10)}`);
  for (const [name, { called, succeeded }] of actions) {
    console.log(`${name.padEnd(20)} ${String(called).padStart(10)} ${String(succeeded).padStart(10)}`);
  }
}
process.exit(code);
