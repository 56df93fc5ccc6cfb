/** Child processes of `npm run bench:p2p`: each runs bench/p2p-peer.ts in one role and speaks JSON lines. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { NODE_V8_FLAGS } from "../node/cli/v8-flags.js";

/** A child process running bench/p2p-peer.ts in one role; speaks JSON lines on stdout/stdin. */
export class Child {
  private readonly proc: ChildProcess;
  private readonly messages: Record<string, unknown>[] = [];
  private waiter: (() => void) | undefined;
  private exited = false;
  private stderr = "";

  constructor(role: string, config: Record<string, unknown>) {
    // Same node binary and tsx loader as this process, so the child runs the TS entry directly.
    // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there (for the time breakdown).
    const nodeArgs = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
    // BENCH_TRACE_GC=1: V8's --trace-gc lines (on the child's stdout) are copied to our stderr.
    if (process.env.BENCH_TRACE_GC) nodeArgs.push("--trace-gc");
    // Every child runs with the node's V8 flags, as `npm run coffer` does (BENCH_NODE_FLAGS overrides; "-" = none).
    const nodeFlags = process.env.BENCH_NODE_FLAGS ?? NODE_V8_FLAGS.join(" ");
    if (nodeFlags !== "-") nodeArgs.push(...nodeFlags.split(" ").filter(Boolean));
    this.proc = spawn(process.execPath, [...process.execArgv, ...nodeArgs, PEER_ENTRY, role, JSON.stringify(config)], { stdio: ["pipe", "pipe", "pipe"] });
    children.add(this);
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      if (process.env.BENCH_TRACE_GC && !line.startsWith("{")) return void process.stderr.write(`[${role} ${this.proc.pid}] ${line}\n`);
      try { this.messages.push(JSON.parse(line)); } catch { this.messages.push({ error: `not JSON: ${line}` }); }
      this.waiter?.();
    });
    this.proc.stderr!.on("data", (d) => { if (process.env.BENCH_CHILD_STDERR) process.stderr.write(d); this.stderr = (this.stderr + String(d)).slice(-4000); });
    this.proc.on("exit", () => { this.exited = true; children.delete(this); this.waiter?.(); });
    this.proc.stdin!.on("error", () => undefined);
  }

  /** The next message that has `key` (an `error` message or an exit throws). */
  async next(key: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => key in m || "error" in m);
      if (i >= 0) {
        const [m] = this.messages.splice(i, 1);
        if ("error" in m) throw new Error(`child failed: ${String(m.error)}`);
        return m;
      }
      if (this.exited) throw new Error(`child exited before sending ${key}: ${this.stderr}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`child did not send ${key} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => { this.waiter = resolve; setTimeout(resolve, Math.min(left, 1000)); });
    }
  }

  send(message: Record<string, unknown>): void {
    this.proc.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Asks politely (closes stdin), then SIGKILL after `graceMs`. */
  async stop(graceMs = process.env.BENCH_CPU_PROF ? 30_000 : 3_000): Promise<void> {
    if (this.exited) return;
    this.proc.stdin!.end();
    const gone = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

const PEER_ENTRY = fileURLToPath(new URL("./p2p-peer.ts", import.meta.url));
const children = new Set<Child>();
// Whatever happens to the bench, no child outlives it.
process.on("exit", () => { for (const c of children) c.kill(); });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

