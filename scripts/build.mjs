// The npm package's build (`npm run build`, run by `npm pack` and `npm publish`):
//
// - declarations: `tsc -p tsconfig.build.json --emitDeclarationOnly`, one `.d.ts` per source
//   file in dist/, as before;
// - JavaScript: esbuild bundles the public entry points and the three Worker entry modules into
//   dist/ with code splitting. Each source module's code lands in exactly one file of dist/lib/,
//   so a module's state (the class registry, the revivers, the error classes) exists once per
//   thread, whichever entry point a thread starts from, as it does with one file per module.
//   A pool's worker then loads 4 files instead of the 13 modules of its static imports, which
//   on Node costs a Worker's start about 10 ms less (one file per module costs ~1 ms each).
//
// Chunks go into dist/lib/ beside the Worker entry modules, since code that starts a Worker
// finds its entry module beside its own `import.meta.url` (lib/runtime/mod.ts, entryModule).
//
// `--per-file DIR` instead compiles each source file to its own `.js` in DIR, as JSR's npm
// layer gives the library to Node and Bun users (tests/consumer/_projects.ts installs it so).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const project = join(root, "tsconfig.build.json");

/** The modules a user or a Worker starts from; everything else is reached from these. */
const ENTRIES = [
  "mod.ts",
  "dummy.ts",
  "cluster.ts",
  "cluster_worker.ts",
  "lib/_worker_main.ts",
  "lib/_process_main.ts",
  "lib/_manager_main.ts",
  // Imported by the bench (bench/_lib.ts) for its floors of the pool's chunk packing.
  "lib/_protocol.ts",
];

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".js"))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/**
 * A bundler renames a top-level name that two modules of one chunk both declare (`Pool` becomes
 * `Pool2`), and a class's `name` is part of the library's behaviour (error messages, registered
 * class names, `err.name`). Fails the build when a class was renamed.
 */
function checkClassNames(dist) {
  const renamed = [];
  for (const file of filesUnder(dist)) {
    for (const match of readFileSync(file, "utf8").matchAll(/^(?:export )?class (\w+?)(\d+)\b/gm)) {
      renamed.push(`${match[1]}${match[2]} (${match[1]}) in ${file}`);
    }
  }
  if (renamed.length > 0) {
    throw new Error(
      `Cannot build dist/: the bundler renamed classes whose names two modules of one chunk share, which would change their 'name': ${
        renamed.join(", ")
      }. Give the classes distinct names, or move one into a module of its own`,
    );
  }
}

async function bundle(dist) {
  const esbuild = await import("esbuild");
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: dist,
    outbase: ".",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "esnext",
    packages: "external",
    chunkNames: "lib/[name]-[hash]",
    logLevel: "warning",
    // The library's user-module imports (`import(url)`) are meant to stay dynamic.
    logOverride: { "unsupported-dynamic-import": "silent" },
  });
  checkClassNames(dist);
}

const perFile = process.argv.indexOf("--per-file");
if (perFile !== -1) {
  const out = process.argv[perFile + 1];
  if (!out) throw new Error("Cannot build per file: pass the output folder after --per-file");
  execFileSync(process.execPath, [tsc, "-p", project, "--outDir", out], { stdio: "inherit" });
} else {
  const dist = join(root, "dist");
  rmSync(dist, { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, "-p", project, "--emitDeclarationOnly"], {
    stdio: "inherit",
  });
  await bundle(dist);
}
