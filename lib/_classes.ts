/**
 * The classes whose instances travel by reference (CPython pickles a class by its module and
 * name): {@linkcode registerClass} records where a class is defined, and each thread that
 * receives an instance imports that module, which registers the class there too. A leaf
 * module: it imports nothing of this library, so that reduction.ts and _wire.ts share it.
 *
 * @module
 */

/**
 * How the instances of a class registered with {@linkcode registerClass} travel.
 *
 * @typeParam T The class's instance type.
 */
export interface ClassOptions<T extends object = object> {
  /**
   * The name the class is known by in its module; unique there.
   *
   * @default {cls.name}
   */
  name?: string;
  /**
   * What an instance travels as (Python's `__getstate__`): any value that can travel,
   * instances of other registered classes included.
   *
   * @default {A plain object of the instance's own enumerable fields}
   */
  getState?: (instance: T) => unknown;
  /**
   * Builds the instance again from what {@linkcode ClassOptions.getState} returned (Python's
   * `__setstate__`, and the constructor call of `__reduce__`). Needed for a class with
   * `#private` fields, which only its constructor can create.
   *
   * @default {An object created from the class's prototype, without calling the constructor,
   * with the fields assigned to it, as pickle does}
   */
  fromState?: (state: unknown) => T;
}

/** A registered class. Internal. */
export interface ClassEntry {
  /** `module#name`: how the class travels. */
  readonly id: string;
  readonly module: string;
  readonly name: string;
  // deno-lint-ignore no-explicit-any
  readonly cls: abstract new (...args: any[]) => object;
  readonly prototype: object;
  readonly getState: ((instance: object) => unknown) | undefined;
  readonly fromState: ((state: unknown) => object) | undefined;
}

const byPrototype = new Map<object, ClassEntry>();
const byId = new Map<string, ClassEntry>();

/**
 * Registers a class whose instances travel by reference, as Python pickles instances: an
 * instance sent to a worker (as a `Pool` task's argument or result, a `Process` argument,
 * through a `Queue`, a `Pipe` or a manager's proxy) arrives there as an instance of the same
 * class, with its methods; an `Error` subclass thrown in a worker is caught by `instanceof`
 * in the caller. The receiving thread imports `module` when it has not yet, and that
 * module's own `registerClass()` call registers the class there: call it at the top level of
 * the module that defines the class (or inside the class, in a `static {}` block), so that
 * importing the module registers it, and guard the program's entry code with
 * `if (import.meta.main)`.
 *
 * Why a call rather than a `static module = import.meta.url` field (what a `Process`
 * subclass says): a call marks classes one does not own (a library's), the class need not be
 * exported under its own name, a subclass does not silently inherit its parent's mark, and
 * no class field of that common name is mistaken for one.
 *
 * By default an instance travels as its own enumerable fields and is rebuilt, without calling
 * the constructor, as an object created from the class's prototype with those fields (pickle's
 * default). An instance of a class that is not registered cannot be sent to a worker: it
 * fails with an error that names the class, rather than arriving as a plain object without its
 * methods. On one thread (`dummy.ts`) a `Pool`'s and a `Process`'s values are passed as they
 * are, as Python's `multiprocessing.dummy` does; queues, pipes and managers copy them there
 * too.
 *
 * @typeParam T The class's instance type.
 * @param cls The class.
 * @param module The absolute URL of the module that registers it: `import.meta.url`.
 * @param options How its instances travel.
 * @throws {TypeError} If `cls` is not a class, `module` not an absolute URL, or another class is
 *   registered under the same module and name.
 *
 * @example Usage
 * ```ts
 * import { Queue, registerClass } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * class Point {
 *   x: number;
 *   y: number;
 *   constructor(x: number, y: number) {
 *     this.x = x;
 *     this.y = y;
 *   }
 *   norm(): number {
 *     return Math.hypot(this.x, this.y);
 *   }
 * }
 * registerClass(Point, import.meta.url);
 *
 * const q = new Queue<Point>();
 * await q.put(new Point(3, 4));
 * const p = await q.get();
 * assert.ok(p instanceof Point);
 * assert.equal(p.norm(), 5);
 * q.close();
 * ```
 *
 * @example A pool task's argument and result, in a program's own module
 * ```ts ignore
 * import { fromModule, Pool, registerClass } from "@mp/multiprocessing";
 *
 * export class Point {
 *   x: number;
 *   y: number;
 *   constructor(x: number, y: number) {
 *     this.x = x;
 *     this.y = y;
 *   }
 *   norm(): number {
 *     return Math.hypot(this.x, this.y);
 *   }
 * }
 * registerClass(Point, import.meta.url);
 *
 * export function double(p: Point): Point {
 *   return new Point(p.x * 2, p.y * 2);
 * }
 *
 * if (import.meta.main) {
 *   await using pool = new Pool(2);
 *   const [p] = await pool.map(fromModule<typeof double>(import.meta.url, "double"), [new Point(3, 4)]);
 *   console.log(p instanceof Point, p.norm()); // true 10
 * }
 * ```
 */
export function registerClass<T extends object>(
  // deno-lint-ignore no-explicit-any
  cls: abstract new (...args: any[]) => T,
  module: string | URL,
  options: ClassOptions<T> = {},
): void {
  const prototype = typeof cls === "function" ? cls.prototype : undefined;
  if (typeof prototype !== "object" || prototype === null) {
    throw new TypeError(
      `Cannot register the class as 'cls' must be a class: received ${
        typeof cls === "function" ? `function ${cls.name || "(anonymous)"}` : String(cls)
      }`,
    );
  }
  let url: string;
  try {
    url = new URL(module).href;
  } catch {
    throw new TypeError(
      `Cannot register the class ${cls.name} as 'module' must be an absolute URL: received ${
        JSON.stringify(String(module))
      }. Pass import.meta.url`,
    );
  }
  const name = options.name ?? cls.name;
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      'Cannot register an anonymous class as it has no name: pass one, as in registerClass(cls, import.meta.url, { name: "Point" })',
    );
  }
  const id = `${url}#${name}`;
  const known = byId.get(id);
  if (known !== undefined) {
    if (known.cls === cls) return;
    throw new TypeError(
      `Cannot register the class ${cls.name} as '${name}' of ${url} as another class has that name there: pass a unique 'name'`,
    );
  }
  const other = byPrototype.get(prototype);
  if (other !== undefined) {
    throw new TypeError(
      `Cannot register the class ${cls.name} as '${name}' of ${url} as it is already registered as '${other.name}' of ${other.module}: register it once`,
    );
  }
  const entry: ClassEntry = {
    id,
    module: url,
    name,
    cls,
    prototype,
    getState: options.getState as ((instance: object) => unknown) | undefined,
    fromState: options.fromState,
  };
  byId.set(id, entry);
  byPrototype.set(prototype, entry);
}

/** The registered class whose prototype is `prototype`. Internal. */
export function classOfPrototype(prototype: object | null): ClassEntry | undefined {
  return prototype === null ? undefined : byPrototype.get(prototype);
}

/** The registered class of an id, if this thread has registered it. Internal. */
export function classById(id: string): ClassEntry | undefined {
  return byId.get(id);
}

/** The module and name of a class id. Internal. */
export function splitClassId(id: string): { module: string; name: string } {
  const at = id.lastIndexOf("#");
  return { module: id.slice(0, at), name: id.slice(at + 1) };
}

/** The state an instance of a registered class travels as. Internal. */
export function stateOf(entry: ClassEntry, instance: object): unknown {
  if (entry.getState !== undefined) return entry.getState(instance);
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(instance)) fields[key] = (instance as Record<string, unknown>)[key];
  return fields;
}

/**
 * A blank instance to fill with {@linkcode fillInstance}, or `undefined` when the class
 * builds its own from the state (`fromState`). Created before its fields are decoded, so
 * that an instance that refers to itself comes back as one object. Internal.
 */
export function blankInstance(entry: ClassEntry): object | undefined {
  return entry.fromState === undefined ? Object.create(entry.prototype) : undefined;
}

/** Finishes an instance from its decoded state. Internal. */
export function fillInstance(entry: ClassEntry, blank: object | undefined, state: unknown): object {
  if (blank === undefined) return entry.fromState!(state);
  if (typeof state === "object" && state !== null) Object.assign(blank, state);
  return blank;
}

/**
 * Why an object cannot travel by structured clone, if its prototype would be lost: an
 * instance of a user class not registered with {@linkcode registerClass}. Built-in classes
 * (native code), errors and views travel as structured clone treats them. Only called for an
 * object whose prototype is not `Object.prototype`, `null`, or a registered class's. Internal.
 */
export function unregisteredClass(value: object): TypeError | undefined {
  if (value instanceof Error || ArrayBuffer.isView(value)) return undefined;
  const proto = Object.getPrototypeOf(value) as object;
  const ctor = (proto as { constructor?: unknown }).constructor;
  if (typeof ctor === "function") {
    if (
      ctor.prototype === proto &&
      /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(ctor))
    ) {
      return undefined;
    }
    const name = ctor.name || "(anonymous class)";
    return new TypeError(
      `Cannot send an instance of ${name} to another thread as its class is not registered: it would arrive as a plain object, without its prototype and methods. Register the class in the module that defines it, with registerClass(${name}, import.meta.url), or send plain data`,
    );
  }
  return new TypeError(
    "Cannot send an object with a custom prototype to another thread: it would arrive as a plain object, without its prototype. Make it an instance of a class registered with registerClass(cls, import.meta.url), or send plain data",
  );
}
