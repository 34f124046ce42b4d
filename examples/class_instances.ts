/**
 * Instances of your own classes travel with their class, as Python pickles them: a `Point`
 * sent to a worker arrives there as a `Point`, the `Point` a task returns comes back as one, and
 * an `OutOfRange` error thrown in a worker is caught by `instanceof` in the program. Each class
 * says where it lives with `registerClass(cls, import.meta.url)`; a worker that receives an
 * instance imports that module, which registers the class there too (so the program's entry
 * code is guarded by `if (import.meta.main)`).
 *
 * Python does this without a word, as pickle refers to a class by its module and name:
 *
 * ```python
 * class Point:
 *     def __init__(self, x, y): self.x, self.y = x, y
 *     def norm(self): return math.hypot(self.x, self.y)
 *
 * def double(p): return Point(p.x * 2, p.y * 2)
 *
 * if __name__ == '__main__':
 *     with Pool(2) as pool:
 *         print([p.norm() for p in pool.map(double, [Point(3, 4), Point(6, 8)])])
 * ```
 *
 * The program also shows the error for a class that is not registered: an instance of it
 * would arrive as a plain object without its methods, so it is refused.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/class_instances.ts
 * bun examples/class_instances.ts
 * node examples/class_instances.ts
 * ```
 *
 * @module
 */
import { fromModule, Pool, registerClass } from "../mod.ts";

/** A point in the plane, with a method. */
export class Point {
  x: number;
  y: number;
  constructor(x: number, y: number) {
    this.x = x;
    this.y = y;
  }
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}
registerClass(Point, import.meta.url);

/** The error a task throws, caught by its class in the program. */
export class OutOfRange extends Error {
  limit: number;
  constructor(message: string, limit: number) {
    super(message);
    this.name = "OutOfRange";
    this.limit = limit;
  }
}
registerClass(OutOfRange, import.meta.url);

/** Not registered: refused. */
class Sketch {
  lines = 0;
}

/** Doubles a point, in a worker. */
export function double(p: Point): Point {
  if (p.norm() > 100) throw new OutOfRange(`${p.norm()} is too far`, 100);
  return new Point(p.x * 2, p.y * 2);
}

if (import.meta.main) {
  await using pool = new Pool(2);
  const task = fromModule<typeof double>(import.meta.url, "double");

  const doubled = await pool.map(task, [new Point(3, 4), new Point(6, 8)]);
  console.log(`instances of Point: ${doubled.every((p) => p instanceof Point)}`);
  console.log(`norms: ${JSON.stringify(doubled.map((p) => p.norm()))}`);

  // A function passed as it is gets a Point too: the worker imports this module to rebuild it.
  console.log(`norm in a worker: ${await pool.apply((p: Point) => p.norm(), [new Point(5, 12)])}`);

  try {
    await pool.apply(task, [new Point(300, 400)]);
  } catch (error) {
    if (error instanceof OutOfRange) {
      console.log(`caught OutOfRange: ${error.message} (limit ${error.limit})`);
    }
  }

  try {
    await pool.apply((s: Sketch) => s.lines, [new Sketch()]);
  } catch (error) {
    console.log(`refused: ${(error as Error).message}`);
  }
}
