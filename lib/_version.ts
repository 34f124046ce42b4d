// The first module mod.ts and dummy.ts evaluate: on a Node too old to run the library, the
// import fails here, naming the version needed, instead of somewhere deep inside.

/** The oldest Node major version the library runs on (22 and 24 are the supported ones). */
export const MIN_NODE_MAJOR = 20;

/**
 * Throws if `node` (as `process.versions.node` gives it) is older than the library needs;
 * `undefined` (not Node) passes.
 *
 * @throws {Error} Naming the minimum version.
 */
export function checkNodeVersion(node: string | undefined): void {
  if (node === undefined) return;
  const major = Number(node.split(".")[0]);
  if (major < MIN_NODE_MAJOR) {
    throw new Error(
      `Cannot load @mp/multiprocessing on Node ${node}: it needs Node ${MIN_NODE_MAJOR} or later (22 and 24 are supported). Upgrade Node`,
    );
  }
}

const g = globalThis as {
  Deno?: unknown;
  Bun?: unknown;
  process?: { versions?: { node?: string } };
};
if (g.Deno === undefined && g.Bun === undefined) checkNodeVersion(g.process?.versions?.node);
