// A user's task module that forgot the `if (import.meta.main)` guard: every worker importing it
// would start a pool of its own. The library refuses that start, and says how to fix it.
import * as mp from "LIBRARY";

export function identity(x) {
  return x;
}

const pool = new mp.Pool(1);
console.log(await pool.map(identity, [1]));
