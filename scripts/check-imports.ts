import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The node's layers, lowest first: a module may import its own layer and any layer below it, never one above,
 * and no set of modules may import each other in a circle. `test/imports.test.ts` runs this check so it stays
 * true; `tsx scripts/check-imports.ts` prints what breaks it. README.md's layout table lists the same order.
 */
export const LAYERS: readonly { name: string; paths: readonly string[] }[] = [
  { name: "errors", paths: ["node/errors.ts"] },
  { name: "proofs", paths: ["node/proofs/"] },
  { name: "p2p-base", paths: ["node/p2p/"] },
  { name: "store", paths: ["node/store/"] },
  { name: "protocols", paths: ["node/protocols/"] },
  { name: "download/overlay", paths: ["node/download/", "node/overlay/"] },
  { name: "assembly", paths: ["node/assembly/"] },
  { name: "chain", paths: ["node/chain/"] },
  { name: "files", paths: ["node/files/"] },
  { name: "roles", paths: ["node/roles/"] },
  { name: "cli", paths: ["node/cli/"] },
];

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Every relative specifier a module names: static imports and re-exports (type-only ones too) and import(). */
const SPECIFIER = /(?:\bimport|\bexport)\s[^"';]*?\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Module → the modules it imports, as repository-relative paths with forward slashes, for every .ts file under `dir`. */
export function importGraph(dir = "node", root = REPO_ROOT): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of walk(join(root, dir))) {
    const from = toRepoPath(root, file);
    const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
    const targets = new Set<string>();
    for (const match of text.matchAll(SPECIFIER)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (!specifier.startsWith(".")) continue;
      targets.add(toRepoPath(root, resolve(dirname(file), specifier.replace(/\.js$/, ".ts"))));
    }
    graph.set(from, [...targets].sort());
  }
  return graph;
}

/** The layer index of a module, or -1 when no layer holds it. */
export function layerOf(path: string): number {
  return LAYERS.findIndex((layer) => layer.paths.some((prefix) => path.startsWith(prefix)));
}

/** Every import that reaches up a layer (or into a module no layer holds). */
export function layerViolations(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [from, targets] of graph) {
    const own = layerOf(from);
    if (own < 0) found.push(`${from} is in no layer`);
    for (const to of targets) {
      const theirs = layerOf(to);
      if (theirs > own) found.push(`${from} (${LAYERS[own]?.name}) imports ${to} (${LAYERS[theirs].name}), a layer above`);
      else if (theirs < 0 && !graph.has(to)) found.push(`${from} imports ${to}, which does not exist`);
    }
  }
  return found;
}

/** The import circles: every strongly connected set of two or more modules, or a module importing itself (Tarjan). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!graph.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

function toRepoPath(root: string, path: string): string {
  return relative(root, path).split(sep).join("/");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const graph = importGraph();
  const problems = [...importCycles(graph).map((cycle) => `import circle: ${cycle.join(" ↔ ")}`), ...layerViolations(graph)];
  for (const problem of problems) console.error(problem);
  console.log(problems.length === 0 ? `${graph.size} modules under node/: no import circle, no layer imported from below` : `${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
