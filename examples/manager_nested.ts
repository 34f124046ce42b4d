/**
 * Proxies inside a manager's containers: a dict holds a list per team and a queue; a pool task
 * reads the team lists out of the dict, appends to them, and reports on the queue, as in
 * Python:
 *
 * ```python
 * from multiprocessing import Manager, Pool
 *
 * def join_team(teams, name):
 *     team = "red" if len(teams["red"]) <= len(teams["blue"]) else "blue"
 *     teams[team].append(name)
 *     teams["log"].put(f"{name} joined {team}")
 *
 * if __name__ == "__main__":
 *     with Manager() as m:
 *         teams = m.dict(red=m.list(), blue=m.list(), log=m.Queue())
 *         with Pool(2) as pool:
 *             for name in ["ann", "bob", "cy", "di"]:
 *                 pool.apply(join_team, (teams, name))
 *         for team in ["red", "blue"]:
 *             print(team, list(teams[team]))
 *         print("first in red:", teams["red"][0])
 *         while not teams["log"].empty():
 *             print(teams["log"].get())
 * ```
 *
 * A proxy stored in a manager's dict or list comes back out as a proxy of the same object,
 * here and in workers; `for await` iterates a list proxy; `getIn([...])` reads a nested value
 * in one expression (Python's `teams["red"][0]`).
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/manager_nested.ts
 * bun examples/manager_nested.ts
 * node examples/manager_nested.ts
 * ```
 *
 * It prints:
 *
 * ```
 * red: ann, cy
 * blue: bob, di
 * first in red: ann
 * ann joined red
 * bob joined blue
 * cy joined red
 * di joined blue
 * ```
 *
 * @module
 */
import {
  type DictProxy,
  fromModule,
  type ListProxy,
  Manager,
  Pool,
  type QueueProxy,
} from "../mod.ts";

/** What the manager's dict holds: a list of names per team, and a log queue. */
type Teams = DictProxy<string, ListProxy<string> | QueueProxy<string>>;

/** A pool task: puts `name` in the smaller team, and logs it. */
export async function joinTeam(teams: Teams, name: string): Promise<void> {
  const red = (await teams.getItem("red")) as ListProxy<string>;
  const blue = (await teams.getItem("blue")) as ListProxy<string>;
  const team = (await red.length()) <= (await blue.length()) ? "red" : "blue";
  await (team === "red" ? red : blue).append(name);
  await ((await teams.getItem("log")) as QueueProxy<string>).put(`${name} joined ${team}`);
}

if (import.meta.main) {
  await using manager = await Manager();
  const teams: Teams = await manager.dict({
    red: await manager.list<string>(),
    blue: await manager.list<string>(),
    log: await manager.Queue<string>(),
  });
  {
    await using pool = new Pool(2);
    for (const name of ["ann", "bob", "cy", "di"]) {
      await pool.apply(fromModule<typeof joinTeam>(import.meta.url, "joinTeam"), [teams, name]);
    }
  }
  for (const team of ["red", "blue"]) {
    const names: string[] = [];
    for await (const name of (await teams.getItem(team)) as ListProxy<string>) names.push(name);
    console.log(`${team}: ${names.join(", ")}`);
  }
  console.log(`first in red: ${await teams.getIn(["red", 0])}`);
  const log = (await teams.getItem("log")) as QueueProxy<string>;
  while (!(await log.empty())) console.log(await log.get());
}
