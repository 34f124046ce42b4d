// A worker's bootstrapping phase, as CPython's: while a worker imports a user's module (a task
// function's, an initializer's, a Process subclass's, a manager callable's), that module's
// top-level code runs in the worker. If it starts a Pool, Process or manager there (a program
// without an `if (import.meta.main)` guard), their workers import the module again and start
// another, without end. Python refuses such a start at once; so do the start paths here, by
// asking `checkNotBootstrapping()`.
//
// The state lives on globalThis under a registered symbol, so that a second copy of this
// library (the user's module importing it from another specifier) sees the same phase.
import { runtime } from "./runtime/mod.ts";

interface BootstrapState {
  /** The URLs being imported now, in the order their imports began (one entry per import). */
  importing: string[];
  /** The refusals by the URL whose import caused them: they fail that module's loads. */
  refused: Map<string, Error>;
}

const KEY = Symbol.for("@mp/multiprocessing.bootstrap");

function state(): BootstrapState {
  const g = globalThis as unknown as Record<symbol, BootstrapState | undefined>;
  return g[KEY] ??= { importing: [], refused: new Map() };
}

/**
 * Throws if this thread is a worker that is importing a user's module.
 *
 * @param what What is being started, for the message: `"a Pool"`, `"Process-1"`.
 * @throws {Error} During the import; the error also fails the import (see importModule).
 */
export function checkNotBootstrapping(what: string): void {
  const importing = state().importing;
  if (importing.length === 0) return;
  const url = importing[importing.length - 1];
  const error = new Error(
    `Cannot start ${what} while a worker is importing ${url}, as that module (or one it imports) starts it at its top level: put the program's entry code under if (import.meta.main) { … }, as Python's if __name__ == "__main__", so that workers importing the module do not run it`,
  );
  // Kept even if the module catches it, or throws it from an async main() nobody awaits.
  state().refused.set(url, error);
  throw error;
}

// What a Process's worker does as it ends, registered by the modules that need it when they
// load (lib/_ring.ts, lib/connection.ts), so that the worker of a target that uses no pipe or
// queue loads neither module: a smaller start-up graph is a faster start (bench/exp_processes.ts).
const flushers: (() => Promise<void>)[] = [];
const closers: (() => void)[] = [];

/**
 * Registers what a Process's worker does as it ends: `flush` is awaited before it ends (sends
 * still waiting for room go out), `close` runs as it ends (its pipes' far ends see the end of
 * the stream). Internal.
 */
export function atProcessEnd(hooks: { flush?: () => Promise<void>; close?: () => void }): void {
  if (hooks.flush !== undefined) flushers.push(hooks.flush);
  if (hooks.close !== undefined) closers.push(hooks.close);
}

/** Awaits the `flush` hooks of {@linkcode atProcessEnd}. Internal. */
export async function flushAtProcessEnd(): Promise<void> {
  for (const flush of flushers) await flush();
}

/** Runs the `close` hooks of {@linkcode atProcessEnd}. Internal. */
export function closeAtProcessEnd(): void {
  for (const close of closers) close();
}

/**
 * An error as a report shows it: its stack (which starts with its name and message) or, with
 * `stack` false, `Name: message`.
 */
export function errorText(error: unknown, stack: boolean = true): string {
  if (!(error instanceof Error)) return String(error);
  // Deno's messages of some errors start with their name already.
  const header = error.message.startsWith(`${error.name}: `)
    ? error.message
    : `${error.name}: ${error.message}`;
  if (!stack || typeof error.stack !== "string" || error.stack === "") return header;
  // V8 starts a stack with "Name: message"; JavaScriptCore does not.
  const full = `${error.name}: ${error.message}`;
  if (error.stack.startsWith(full)) return header + error.stack.slice(full.length);
  return error.stack.startsWith(header) ? error.stack : `${header}\n${error.stack}`;
}

/**
 * Imports a user's module. In a worker it marks the import as bootstrapping while it runs,
 * and fails it with the refusal its top-level code met. A module that cannot be loaded fails
 * with an error that names it and says what to check, instead of naming this library's file
 * as the importer.
 *
 * @param url The module's absolute URL.
 * @param purpose What it is imported for, for messages: `"the function 'square'"`.
 */
export async function importModule(
  url: string,
  purpose: string,
): Promise<Record<string, unknown>> {
  const s = state();
  const refused = s.refused.get(url);
  if (refused !== undefined) throw refused;
  // On the main thread (dummy.ts) the module is imported once, on the program's own thread:
  // nothing recurses, so nothing is refused, as Python's dummy pool refuses nothing.
  const worker = runtime().threadId() !== 0;
  if (worker) s.importing.push(url);
  let mod: Record<string, unknown>;
  try {
    mod = await import(url) as Record<string, unknown>;
  } catch (error) {
    throw s.refused.get(url) ?? explainLoadFailure(error, url, purpose);
  } finally {
    if (worker) s.importing.splice(s.importing.lastIndexOf(url), 1);
  }
  const refusal = s.refused.get(url);
  if (refusal !== undefined) throw refusal;
  return mod;
}

/**
 * Rewrites a failure to load a module (not found, a syntax error, no permission to read it)
 * into an error that names the module and what it was for; returns anything else, such as
 * an error its top-level code threw, as it is.
 */
function explainLoadFailure(error: unknown, url: string, purpose: string): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  let message = error.message.replace(/\s+imported from \S+/, "");
  // Bun reports each syntax error of a module as a BuildMessage, several in an AggregateError.
  const built = error instanceof AggregateError && error.errors.length > 0 &&
    error.errors.every((e) => e instanceof Error && e.name === "BuildMessage");
  if (built) message += `: ${error.errors.map((e: Error) => e.message).join("; ")}`;
  let reason: string;
  let advice: string;
  let Class: ErrorConstructor = Error;
  if (error.name === "NotCapable" || /^Requires read access/.test(message)) {
    reason = mentions(message, url)
      ? "reading it is not permitted"
      : "reading a module it imports is not permitted";
    advice = "grant the program read access to it (on Deno, --allow-read)";
  } else if (
    error instanceof SyntaxError || error.name === "BuildMessage" || built ||
    /^SyntaxError\b/.test(message) || code === "ERR_INVALID_TYPESCRIPT_SYNTAX"
  ) {
    reason = "it, or a module it imports, has a syntax error";
    advice = "fix the module so that it loads on its own";
    Class = SyntaxError;
  } else if (
    code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" ||
    error.name === "ResolveMessage"
  ) {
    reason = mentions(message, url) ? "it was not found" : "a module it imports was not found";
    advice = "check that the file exists at that URL, and pass an absolute URL such as " +
      'new URL("./tasks.ts", import.meta.url)';
  } else {
    return error;
  }
  const explained = new Class(
    `Cannot import module ${url} for ${purpose} as ${reason}: ${advice} (${message})`,
    { cause: error },
  );
  if (typeof code === "string") Object.assign(explained, { code });
  return explained;
}

/** Whether a runtime's message names the module at `url` (as a URL or as a path). */
function mentions(message: string, url: string): boolean {
  if (message.includes(url)) return true;
  try {
    return message.includes(decodeURIComponent(new URL(url).pathname));
  } catch {
    return false;
  }
}

/**
 * What a spare Process worker is started with (Process.prepare()): it has no process yet, and
 * waits for its `ProcessInit` (lib/_protocol.ts) as its first message. Here rather than in
 * lib/_protocol.ts so that a Process's worker, which reads it first, does not load that module.
 */
export interface SpareInit {
  spare: true;
}

/** Whether a worker's data says it started as a spare. */
export function isSpare(data: unknown): data is SpareInit {
  return typeof data === "object" && data !== null && (data as SpareInit).spare === true;
}
