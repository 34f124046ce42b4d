/**
 * How tasks and errors travel between threads (CPython's `multiprocessing.reduction`).
 *
 * Arguments and results travel by structured clone. Functions cannot, so a task function
 * travels in one of two ways: as its source text, compiled once in each worker that runs it,
 * or as a reference to a function exported from a module ({@linkcode fromModule}), which each
 * worker imports. Errors travel as plain records and are rebuilt as the same class.
 *
 * @module
 */
import { importModule } from "./_bootstrap.ts";
import { compileFunction } from "./_compile.ts";
import {
  blankInstance,
  classById,
  classOfPrototype,
  fillInstance,
  splitClassId,
  stateOf,
  unregisteredClass,
} from "./_classes.ts";
import {
  AuthenticationError,
  BrokenBarrierError,
  BufferTooShort,
  Empty,
  EOFError,
  Full,
  ProcessError,
  RemoteError,
  RemoteTraceback,
  TimeoutError,
  WorkerExitError,
} from "./errors.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * A reference to a function exported from an ES module: the worker imports the module and
 * calls the export. Made by {@linkcode fromModule}. Use it for task functions that import
 * other modules, call helpers, or keep module state.
 *
 * @typeParam F The function's type, so that pool methods type-check its arguments and result.
 */
export interface ModuleFunction<
  F extends (...args: never[]) => unknown = (...args: never[]) => unknown,
> {
  /** The absolute URL of the module, usually `import.meta.url`. */
  readonly module: string;
  /** The export's name. */
  readonly name: string;
  /** Type-only: never set. It carries `F` so that pool methods infer arguments and result. */
  readonly signature?: F;
}

/**
 * A task function: a self-contained function passed as it is, or a
 * {@linkcode ModuleFunction} naming an export of a module.
 *
 * @typeParam A The function's parameter types.
 * @typeParam R The function's return type (a `Promise` is awaited).
 */
export type TaskFunction<A extends unknown[], R> =
  | ((...args: A) => R)
  | ModuleFunction<(...args: A) => R>;

/**
 * Names a function exported from an ES module, so that workers import the module and call
 * it, instead of compiling the function from its source text. Such a function may import
 * other modules, call other functions of its module, and use module-level state.
 *
 * The worker runs the module's top-level code when it imports it, so guard a program's
 * entry code with `if (import.meta.main)`, as Python guards it with
 * `if __name__ == "__main__"`.
 *
 * @typeParam F The exported function's type (`typeof square`).
 * @param module The module's absolute URL: `import.meta.url` for the current module, or
 *   `new URL("./tasks.ts", import.meta.url)`.
 * @param name The export's name.
 * @returns A reference that every `Pool` method accepts in place of a function.
 * @throws {TypeError} If `module` is not an absolute URL or `name` is not a non-empty string.
 *
 * @example Usage
 * ```ts ignore
 * import { fromModule, Pool } from "@mp/multiprocessing";
 *
 * export function square(x: number): number {
 *   return x * x;
 * }
 *
 * if (import.meta.main) {
 *   await using pool = new Pool(2);
 *   console.log(await pool.map(fromModule<typeof square>(import.meta.url, "square"), [1, 2, 3]));
 * }
 * ```
 */
export function fromModule<F extends (...args: never[]) => unknown>(
  module: string | URL,
  name: string = "default",
): ModuleFunction<F> {
  let url: string;
  try {
    url = new URL(module).href;
  } catch {
    throw new TypeError(
      `Cannot reference a module function as 'module' must be an absolute URL: received ${
        JSON.stringify(String(module))
      }. Pass import.meta.url, or new URL("./file.ts", import.meta.url)`,
    );
  }
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `Cannot reference a module function as 'name' must be a non-empty string: received ${
        describe(name)
      }`,
    );
  }
  return Object.freeze({ module: url, name });
}

/** A function as it travels to a worker: its source text, or a module and export name. */
export type FunctionDef =
  | { id: number; name: string; source: string; module?: undefined }
  | { id: number; name: string; module: string; source?: undefined };

const defs = new WeakMap<object, FunctionDef>();
// Functions written inline (`pool.applyAsync((x) => x + 1, [i])` in a loop) are new objects
// each time but one source text: they share one definition, so each worker compiles it once.
const sourceDefs = new Map<string, FunctionDef>();
const moduleDefs = new Map<string, FunctionDef>();
let nextFunctionId = 1;

function isModuleFunction(fn: unknown): fn is ModuleFunction {
  return typeof fn === "object" && fn !== null &&
    typeof (fn as ModuleFunction).module === "string" &&
    typeof (fn as ModuleFunction).name === "string";
}

/**
 * Checks a task function and returns how it travels, cached per function so that each
 * function is turned into source text once, and each worker compiles it once.
 *
 * @throws {TypeError} For a value that is not a function or module reference, and for a
 *   function whose source text cannot be compiled elsewhere (built-in or bound functions).
 */
export function functionDef(fn: unknown, role: string = "task"): FunctionDef {
  if (typeof fn === "function") {
    let def = defs.get(fn);
    if (def === undefined) {
      const source = Function.prototype.toString.call(fn);
      const name = fn.name || "anonymous";
      if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
        throw new TypeError(
          `Cannot send the ${role} function '${name}' to a worker as it is a built-in or bound function, which has no source text: wrap it, as in (x) => Math.sqrt(x), or export it from a module and pass fromModule(import.meta.url, "${name}")`,
        );
      }
      const key = `${name}\n${source}`;
      def = sourceDefs.get(key);
      if (def === undefined) {
        def = { id: nextFunctionId++, name, source };
        sourceDefs.set(key, def);
      }
      defs.set(fn, def);
    }
    return def;
  }
  if (isModuleFunction(fn)) {
    const key = `${fn.module}#${fn.name}`;
    let def = moduleDefs.get(key);
    if (def === undefined) {
      def = { id: nextFunctionId++, name: fn.name, module: fn.module };
      moduleDefs.set(key, def);
    }
    return def;
  }
  throw new TypeError(
    `Cannot run the ${role} as it must be a function or a fromModule() reference: received ${
      describe(fn)
    }`,
  );
}

/**
 * Turns a {@linkcode FunctionDef} back into a function, inside a worker (or on the calling
 * thread for the dummy pool's module references). A module is imported as the worker's
 * bootstrapping (lib/_bootstrap.ts): its top-level code may not start pools.
 *
 * @throws {Error} If the module cannot be loaded (naming it), does not export the function,
 *   or its top-level code starts a Pool, Process or manager.
 */
export async function loadFunction(def: FunctionDef): Promise<AnyFunction> {
  if (def.module !== undefined) {
    const mod = await importModule(def.module, `the function '${def.name}'`);
    const fn = mod[def.name];
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot find the function '${def.name}' in module ${def.module}: its export '${def.name}' is ${
          describe(fn)
        }. Export the function under that name`,
      );
    }
    return fn as AnyFunction;
  }
  return compileFunction(def);
}

/** An error as it travels between threads. */
export type WireError =
  | {
    name: string;
    message: string;
    stack: string;
    props: Record<string, unknown> | undefined;
    cause: WireError | undefined;
    errors: WireError[] | undefined;
    /** The id of its class, when that is registered with `registerClass`. */
    cls?: string;
  }
  | { thrown: unknown };

/** Turns a thrown value into a record that structured clone can carry. */
export function encodeError(error: unknown, depth: number = 0): WireError {
  if (!(error instanceof Error)) {
    return { thrown: cloneable(error) ? error : String(error) };
  }
  const name = error.name;
  const message = error.message;
  let stack = typeof error.stack === "string" ? error.stack : "";
  // V8 starts a stack with "Name: message"; JavaScriptCore does not.
  const header = message ? `${name}: ${message}` : name;
  if (!stack.startsWith(header)) stack = `${header}\n${stack}`;
  let props: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    if (!cloneable(value)) continue;
    (props ??= {})[key] = value;
  }
  const cause = "cause" in error && error.cause !== undefined && depth < 8
    ? encodeError(error.cause, depth + 1)
    : undefined;
  const errors = error instanceof AggregateError && Array.isArray(error.errors) && depth < 8
    ? error.errors.map((e: unknown) => encodeError(e, depth + 1))
    : undefined;
  const entry = classOfPrototype(Object.getPrototypeOf(error));
  return entry === undefined
    ? { name, message, stack, props, cause, errors }
    : { name, message, stack, props, cause, errors, cls: entry.id };
}

type ErrorFactory = (message: string, options: ErrorOptions, wire: WireError) => Error;

const standard = (C: ErrorConstructor): ErrorFactory => (message, options) =>
  new C(message, options);

// The classes rebuilt as themselves. Others arrive as `Error` with the original `name`.
const factories: Record<string, ErrorFactory> = {
  Error: standard(Error),
  TypeError: standard(TypeError),
  RangeError: standard(RangeError),
  ReferenceError: standard(ReferenceError),
  SyntaxError: standard(SyntaxError),
  EvalError: standard(EvalError),
  URIError: standard(URIError),
  AggregateError: (message, options, wire) =>
    new AggregateError(
      "errors" in wire && wire.errors ? wire.errors.map(decodeError) : [],
      message,
      options,
    ),
  ProcessError: (message, options) => new ProcessError(message, options),
  TimeoutError: (message, options) => new TimeoutError(message, options),
  BrokenBarrierError: (message, options) => new BrokenBarrierError(message, options),
  // `data` is copied with the other properties.
  BufferTooShort: (message, options) => new BufferTooShort(message, undefined, options),
  Empty: (message, options) => new Empty(message, options),
  Full: (message, options) => new Full(message, options),
  EOFError: (message, options) => new EOFError(message, options),
  AuthenticationError: (message, options) => new AuthenticationError(message, options),
  RemoteError: (message, options) => new RemoteError(message, options),
  WorkerExitError: (message, options, wire) =>
    new WorkerExitError(
      message,
      "props" in wire && typeof wire.props?.exitCode === "number" ? wire.props.exitCode : 1,
      options,
    ),
};

/**
 * Rebuilds an error that crossed threads: the same class (for the built-in error classes
 * and this library's) and message, its extra properties, and the worker's stack as a
 * {@linkcode RemoteTraceback} in `cause`.
 */
export function decodeError(wire: WireError): unknown {
  if ("thrown" in wire) return wire.thrown;
  const traceback = new RemoteTraceback(
    wire.stack,
    wire.cause === undefined ? undefined : { cause: decodeError(wire.cause) },
  );
  const factory = Object.hasOwn(factories, wire.name) ? factories[wire.name] : undefined;
  const error = factory
    ? factory(wire.message, { cause: traceback }, wire)
    : new Error(wire.message, { cause: traceback });
  // A registered class: the same error, made an instance of that class (its constructor is
  // not called, as pickle calls none), so that the caller catches it by `instanceof`.
  const entry = wire.cls === undefined ? undefined : classById(wire.cls);
  if (entry !== undefined) Object.setPrototypeOf(error, entry.prototype);
  if (error.name !== wire.name) error.name = wire.name;
  if (wire.props) Object.assign(error, wire.props);
  return error;
}

/** Whether `value` survives structured clone. Used only on error paths: it clones. */
export function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/** A short description of a received value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== "Object" ? `an instance of ${ctor}` : "an object";
}

// ---- Shared objects ---------------------------------------------------------------------
//
// Locks, queues, shared values and the like hold their state in shared memory. Structured
// clone would copy such an object as a plain object without its class (and without its
// `#private` fields), so an object that can travel implements `[reduce]()`, returning the state
// another thread needs; it travels as a tagged record and is revived there as the same class
// over the same memory. The walk that finds them runs only once such an object exists, so
// pools that pass plain data pay nothing for it.

/** The method a shareable object implements: the state it travels as. */
export const reduce: unique symbol = Symbol.for("@mp/multiprocessing.reduce");

/** An object that can be passed to other workers and works there as it does here. */
export interface Shareable {
  /** Returns the kind registered with {@linkcode registerShared} and the state to send. */
  [reduce](): { kind: string; state: unknown };
}

/** How a shareable object travels: strings survive structured clone, symbols do not. */
const TAG = "__mp_shared__";

const revivers = new Map<string, (state: unknown) => object>();
let sharedObjects = 0;

/**
 * Registers how to rebuild a kind of shareable object from its state. Each module that
 * defines shareable classes registers them when it loads; the worker bootstrap imports those
 * modules, so every kind can be revived in every worker.
 */
export function registerShared(kind: string, revive: (state: unknown) => object): void {
  revivers.set(kind, revive);
}

/** Called by every shareable object's constructor, to switch the argument walk on. */
export function sharedObjectCreated(): void {
  sharedObjects++;
}

/** Whether values may contain shareable objects, so that they must be walked. */
export function mayHoldShared(): boolean {
  return sharedObjects > 0;
}

function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[reduce] === "function";
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** How an instance of a class registered with `registerClass` travels: by its module and name. */
const CLASS_TAG = "__mp_class__";

/**
 * Replaces the shareable objects in `value` (at any depth of arrays, plain objects, Maps and
 * Sets) with tagged records, and the instances of registered classes with records of their
 * class and state. Returns `value` itself when it holds neither; never changes it.
 *
 * @throws {TypeError} For an instance of a class not registered with `registerClass`, which
 *   structured clone would turn into a plain object.
 */
export function encodeShared(value: unknown): unknown {
  // The pool's hot path (a task's arguments, a chunk of plain values, a packed chunk of
  // numbers) returns after one typeof per value, without allocating: only a value that holds
  // an object is walked.
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let i = 0;
    while (i < value.length && (typeof value[i] !== "object" || value[i] === null)) i++;
    if (i === value.length && Object.getPrototypeOf(value) === Array.prototype) return value;
  } else if (ArrayBuffer.isView(value) && !isShareable(value)) {
    return value;
  }
  return encodeObject(value, new Map());
}

// `seen` maps each object met to what it travels as, so that a value met twice (or a cycle)
// stays one value.
function encodeObject(value: object, seen: Map<object, unknown>): unknown {
  const met = seen.get(value);
  if (met !== undefined) return met;
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const array = value as unknown[];
    // An array of primitives is returned as it is, unrecorded: recording every leaf in `seen`
    // cost more than the rest of the walk (a million small objects: 400 ms against 40).
    let i = 0;
    while (i < array.length && (typeof array[i] !== "object" || array[i] === null)) i++;
    if (i === array.length) return value;
    seen.set(value, value);
    let out: unknown[] | undefined;
    for (; i < array.length; i++) {
      const item = array[i];
      if (typeof item !== "object" || item === null) continue;
      const encoded = encodeObject(item, seen);
      if (encoded !== item) (out ??= array.slice())[i] = encoded;
    }
    if (out !== undefined) seen.set(value, out);
    return out ?? value;
  }
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(value);
    let k = 0;
    while (k < keys.length) {
      const item = (value as Record<string, unknown>)[keys[k]];
      if (typeof item === "object" && item !== null) break;
      k++;
    }
    if (k === keys.length) return value;
    seen.set(value, value);
    let out: Record<string, unknown> | undefined;
    for (; k < keys.length; k++) {
      const key = keys[k];
      const item = (value as Record<string, unknown>)[key];
      if (typeof item !== "object" || item === null) continue;
      const encoded = encodeObject(item, seen);
      if (encoded !== item) (out ??= { ...value as Record<string, unknown> })[key] = encoded;
    }
    if (out !== undefined) seen.set(value, out);
    return out ?? value;
  }
  if (isShareable(value)) {
    const { kind, state } = value[reduce]();
    const record = { [TAG]: kind, state: undefined as unknown };
    seen.set(value, record);
    record.state = typeof state === "object" && state !== null ? encodeObject(state, seen) : state;
    return record;
  }
  if (ArrayBuffer.isView(value)) return value;
  if (proto === Map.prototype) {
    seen.set(value, value);
    let changed = false;
    const entries = [...value as Map<unknown, unknown>].map(([k, v]) => {
      const ek = typeof k === "object" && k !== null ? encodeObject(k, seen) : k;
      const ev = typeof v === "object" && v !== null ? encodeObject(v, seen) : v;
      if (ek !== k || ev !== v) changed = true;
      return [ek, ev] as const;
    });
    return changed ? new Map(entries) : value;
  }
  if (proto === Set.prototype) {
    seen.set(value, value);
    const before = [...value as Set<unknown>];
    const items = before.map((v) =>
      typeof v === "object" && v !== null ? encodeObject(v, seen) : v
    );
    return items.some((v, i) => v !== before[i]) ? new Set(items) : value;
  }
  const entry = classOfPrototype(proto);
  if (entry !== undefined) {
    const record: Record<string, unknown> = { [CLASS_TAG]: entry.id, state: undefined };
    seen.set(value, record);
    if (value instanceof Error) {
      record.error = encodeError(value);
    } else {
      const state = stateOf(entry, value);
      record.state = typeof state === "object" && state !== null
        ? encodeObject(state, seen)
        : state;
    }
    return record;
  }
  const refused = unregisteredClass(value);
  if (refused !== undefined) throw refused;
  return value;
}
// The module that defines each kind. A pool worker imports none of them up front (they cost
// a pool's start more than its workers' own start did): it imports one when a value it
// receives holds an object of that kind (see loadRevivers).
const synchronize = () => import("./synchronize.ts");
const queues = () => import("./queues.ts");
const sharedctypes = () => import("./sharedctypes.ts");
const lazyKinds = new Map<string, () => Promise<unknown>>([
  ["Lock", synchronize],
  ["RLock", synchronize],
  ["Semaphore", synchronize],
  ["BoundedSemaphore", synchronize],
  ["Condition", synchronize],
  ["Event", synchronize],
  ["Barrier", synchronize],
  ["Queue", queues],
  ["JoinableQueue", queues],
  ["SimpleQueue", queues],
  ["sharedctypes.RawValue", sharedctypes],
  ["sharedctypes.Value", sharedctypes],
  ["sharedctypes.Array", sharedctypes],
  ["Connection", () => import("./connection.ts")],
  ["Proxy", () => import("./_manager_server.ts")],
]);

function missingKinds(
  value: unknown,
  found: Set<string>,
  seen: Set<object>,
  modules: Set<string>,
): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value) || value instanceof Set) {
    for (const v of value) missingKinds(v, found, seen, modules);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      missingKinds(k, found, seen, modules);
      missingKinds(v, found, seen, modules);
    }
  } else if (isPlainObject(value)) {
    const kind = (value as Record<string, unknown>)[TAG];
    if (typeof kind === "string" && !revivers.has(kind) && lazyKinds.has(kind)) found.add(kind);
    const id = (value as Record<string, unknown>)[CLASS_TAG];
    if (typeof id === "string" && classById(id) === undefined) modules.add(id);
    for (const v of Object.values(value)) missingKinds(v, found, seen, modules);
  }
}

/**
 * Imports the modules of the lazily loaded kinds, and of the registered classes this thread
 * does not know yet, that `value` (as received, before {@linkcode decodeShared}) holds;
 * `undefined` when there is nothing to import.
 */
export function loadRevivers(value: unknown): Promise<void> | undefined {
  const found = new Set<string>();
  const classes = new Set<string>();
  missingKinds(value, found, new Set(), classes);
  if (found.size === 0 && classes.size === 0) return undefined;
  return Promise.all([
    ...[...found].map((kind) => lazyKinds.get(kind)!()),
    importClasses(classes),
  ]).then(() => {});
}

// Why a class's module could not be imported, for the error decodeShared throws.
const failedImports = new Map<string, unknown>();

/**
 * Imports the modules of the classes with these ids that this thread does not know yet;
 * a module that fails to load is reported when an instance is rebuilt. Internal.
 */
export async function importClasses(ids: Iterable<string>): Promise<void> {
  await Promise.all(
    [...ids].filter((id) => classById(id) === undefined).map((id) => {
      const { module, name } = splitClassId(id);
      return importModule(module, `the class '${name}'`).then(() => {}, (error) => {
        failedImports.set(id, error);
      });
    }),
  );
}

/** Revives the tagged records in a received value, in place, and returns the value. */
export function decodeShared(value: unknown, seen: Map<object, unknown> = new Map()): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decodeShared(value[i], seen);
    return value;
  }
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => [decodeShared(k, seen), decodeShared(v, seen)]);
    value.clear();
    for (const [k, v] of entries) value.set(k, v);
    return value;
  }
  if (value instanceof Set) {
    const items = [...value].map((v) => decodeShared(v, seen));
    value.clear();
    for (const v of items) value.add(v);
    return value;
  }
  if (!isPlainObject(value)) return value;
  const record = value as Record<string, unknown>;
  if (typeof record[TAG] === "string") {
    const revive = revivers.get(record[TAG] as string);
    if (revive === undefined) {
      throw new TypeError(
        `Cannot receive a shared '${
          record[TAG]
        }' as this thread does not know that kind: import the module that defines it`,
      );
    }
    const revived = revive(decodeShared(record.state, seen));
    seen.set(value, revived);
    return revived;
  }
  if (typeof record[CLASS_TAG] === "string") return decodeInstance(record, seen);
  for (const key of Object.keys(record)) record[key] = decodeShared(record[key], seen);
  return value;
}

function decodeInstance(record: Record<string, unknown>, seen: Map<object, unknown>): unknown {
  const id = record[CLASS_TAG] as string;
  const entry = classById(id);
  if (entry === undefined) throw unknownClass(id);
  if (record.error !== undefined) {
    const error = decodeError(record.error as WireError);
    seen.set(record, error);
    return error;
  }
  const blank = blankInstance(entry);
  if (blank !== undefined) seen.set(record, blank);
  const instance = fillInstance(entry, blank, decodeShared(record.state, seen));
  seen.set(record, instance);
  return instance;
}

/** The error for an instance whose class this thread has not registered. Internal. */
export function unknownClass(id: string, cause: unknown = failedImports.get(id)): TypeError {
  const { module, name } = splitClassId(id);
  return new TypeError(
    cause === undefined
      ? `Cannot receive an instance of ${name} as this thread does not know the class: its module ${module} does not register it when imported. Call registerClass(${name}, import.meta.url) at the top level of that module`
      : `Cannot receive an instance of ${name} as its module ${module} cannot be imported here: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    cause === undefined ? undefined : { cause },
  );
}
