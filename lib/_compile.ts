/**
 * Functions that travel as source text, compiled again in a worker, and the clearer error for
 * one that used a variable from outside itself. A leaf module (it imports only types): a
 * Process's worker compiles its target with it without loading reduction.ts, whose other
 * parts only arguments holding shared objects or registered classes need
 * (bench/exp_processes.ts: each module more is start-up time of every Process).
 *
 * @module
 */
import type { FunctionDef } from "./reduction.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * Compiles a function that travels as source text, at once: reduction.ts's `loadFunction`
 * without waiting for a promise job.
 *
 * @throws {SyntaxError} If the source cannot be compiled.
 */
export function compileFunction(def: FunctionDef & { source: string }): AnyFunction {
  return compileSource(def.source, def.name);
}

// A name a function may call itself by: an identifier (a reserved word fails to compile, and
// the source is compiled without it).
const SELF_NAME = /^[\p{L}\p{Nl}$_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}$]*$/u;
// The same for ASCII names, which most are. V8 compiles SELF_NAME's Unicode classes on its first
// test in a Worker (1.5 ms on Node) and again when it tiers the pattern up on the second
// (0.7 ms): a cost every worker's first two functions would wait for.
const ASCII_NAME = /^[A-Za-z$_][A-Za-z0-9$_]*$/;
const NON_ASCII = /[^\0-\x7f]/;

function isSelfName(name: string): boolean {
  return ASCII_NAME.test(name) || (NON_ASCII.test(name) && SELF_NAME.test(name));
}

function compileSource(source: string, name: string): AnyFunction {
  // In the program, a function declared `function fact(n) { ... fact(n - 1) }` or
  // `const fact = (n) => ... fact(n - 1)` calls itself by its name. Bun prints a function
  // declared inside a block without its name (`function(n) { ... }`), and an arrow never has
  // one: a scope that binds the name keeps such a call working, as in the program. Not for a
  // global's name (a property `{ fetch: (u) => fetch(u) }` means the global there).
  if (isSelfName(name) && !(name in globalThis)) {
    try {
      return new Function(`const ${name} = (${source}\n);\nreturn ${name};`)() as AnyFunction;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
  }
  try {
    // An expression: `function f() {}`, `(x) => x`, `async function* g() {}`, `class C {}`.
    return new Function(`return (${source}\n);`)() as AnyFunction;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  try {
    // Method shorthand, as `{ square(x) { ... } }.square` prints: `square(x) { ... }`.
    const holder = new Function(`return ({ ${source}\n});`)() as Record<string, AnyFunction>;
    const fn = Object.values(holder)[0];
    if (typeof fn === "function") return fn;
  } catch {
    // Reported below with the original source.
  }
  throw new SyntaxError(
    `Cannot compile the function '${name}' in a worker from its source text: export it from a module and pass fromModule(import.meta.url, "${name}") instead. Source: ${
      source.slice(0, 200)
    }`,
  );
}

/**
 * When a function compiled from source throws `ReferenceError: x is not defined` and `x`
 * occurs in its source, the function used a variable from outside itself (a closure or an
 * import), which does not travel with source text. Returns a clearer error saying so and
 * how to fix it, or `undefined` when the error is something else.
 */
export function explainFreeVariable(error: unknown, def: FunctionDef): Error | undefined {
  if (def.source === undefined || !(error instanceof ReferenceError)) return undefined;
  const match =
    /^(?:([\p{L}\p{Nl}$_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}$]*) is not defined|Can't find variable: (\S+))$/u
      .exec(error.message);
  const variable = match?.[1] ?? match?.[2];
  if (variable === undefined) return undefined;
  const escaped = variable.replace(/\$/g, "\\$");
  if (!new RegExp(`(^|[^\\w$.])${escaped}(?![\\w$])`).test(def.source)) return undefined;
  return new ReferenceError(
    `Cannot run the function '${def.name}' in a worker as it uses '${variable}', which is defined outside the function: a function passed as it is travels as source text, without the variables and imports around it. Pass '${variable}' as an argument, or export '${def.name}' from a module and pass fromModule(import.meta.url, "${def.name}"), guarding the module's entry code with if (import.meta.main)`,
    { cause: error },
  );
}
