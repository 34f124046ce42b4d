// The user's task module in TypeScript, for the runtimes that run it as it is (tasks.mjs says
// why it imports the library).
import * as mp from "../../mod.ts";

const shared: unknown[] = [];

export function square(x: number): number {
  return x * x;
}

export function sharedList(): unknown[] {
  return shared;
}

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
mp.registerClass(Point, import.meta.url);

/** Needs the Point revived with its prototype in the worker. */
export function norm(point: Point): number {
  return point.norm();
}

/** Sends a Point back, for the program to revive. */
export function point(x: number): Point {
  return new Point(x, 2 * x);
}

/** What the library throws in the worker when `queue` stays empty. */
export async function emptyGet(queue: mp.Queue<unknown>): Promise<unknown> {
  try {
    return await queue.get({ timeout: 10 });
  } catch (error) {
    return error instanceof mp.Empty ? `Empty: ${error.name}` : `not Empty: ${error}`;
  }
}
