// A user's TypeScript program, type-checked (not run) against the installed declarations:
// LIBRARY and LIBRARY_DUMMY are replaced as in program.mjs. The @ts-expect-error lines fail
// the check if the declarations were missing or `any`.
import { fromModule, Lock, Manager, Pool, Queue, Value } from "LIBRARY";
import * as dummy from "LIBRARY_DUMMY";

export function square(x: number): number {
  return x * x;
}

export async function main(): Promise<void> {
  await using pool = new Pool(2);
  const squares: number[] = await pool.map((x: number) => x * x, [1, 2]);
  // @ts-expect-error map() of a function returning numbers gives numbers, not strings
  const wrong: string[] = await pool.map((x: number) => x * x, [1, 2]);
  const viaModule: number[] = await pool.map(
    fromModule<typeof square>(import.meta.url, "square"),
    [3],
  );
  const queue = new Queue<string>();
  await queue.put("a");
  const lock = new Lock();
  const value = Value("i", 0);
  await lock.withLock(() => {
    value.value += 1;
  });
  await using manager = await Manager();
  const dict = await manager.dict<string, number>();
  await dict.set("k", 1);
  await using threads = new dummy.Pool(1);
  const tripled: number[] = await threads.map((x: number) => x * 3, [1]);
  console.log(squares, wrong, viaModule, tripled, await queue.get());
}
