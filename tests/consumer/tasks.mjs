// The user's task module, imported by the workers through fromModule(). It imports the
// library as the program does, so that the workers' copy of the library and the program's
// must agree: a class registered here is revived by the library's reviver, and an error the
// library throws in a worker is an instance of the class this module imports. The user
// projects (tests/consumer/_projects.ts) replace the import of ../../mod.ts with the installed
// library.
import * as mp from "../../mod.ts";

const shared = [];

export function square(x) {
  return x * x;
}

export function sharedList() {
  return shared;
}

export class Point {
  constructor(x, y) {
    this.x = x;
    this.y = y;
  }

  norm() {
    return Math.hypot(this.x, this.y);
  }
}
mp.registerClass(Point, import.meta.url);

/** Needs the Point revived with its prototype in the worker. */
export function norm(point) {
  return point.norm();
}

/** Sends a Point back, for the program to revive. */
export function point(x) {
  return new Point(x, 2 * x);
}

/** What the library throws in the worker when `queue` stays empty. */
export async function emptyGet(queue) {
  try {
    return await queue.get({ timeout: 10 });
  } catch (error) {
    return error instanceof mp.Empty ? `Empty: ${error.name}` : `not Empty: ${error}`;
  }
}
