// How tasks and results travel through the broker: the managers' MessagePack format
// (lib/_wire.ts), the same bytes on Deno, Bun and Node, with its limits.

import { WireCodec } from "../_wire.ts";
import type { FunctionDef } from "../reduction.ts";

/** A codec for the cluster: manager proxies do not travel through it. */
export function clusterCodec(): WireCodec {
  return new WireCodec(() => {
    throw new TypeError(
      "Cannot receive a manager proxy through the cluster's broker: pass the data itself, or the manager's address for the task to connect to",
    );
  });
}

/** A chunk as it travels: `[op, name, source, module, payload]`. */
export type ChunkRecord = [number, string, string | null, string | null, unknown];

/** The record of a chunk. */
export function chunkRecord(op: number, def: FunctionDef, payload: unknown): ChunkRecord {
  return [op, def.name, def.source ?? null, def.module ?? null, payload];
}

/** Rewords the codec's refusal ("to a manager") for the cluster. */
export function notSendable(error: unknown, what: string): unknown {
  if (!(error instanceof Error)) return error;
  const reason = error.message.replace(
    /^Cannot send (.*?) to a manager as /,
    "$1 cannot travel as ",
  );
  const wrapped = new (error instanceof RangeError ? RangeError : TypeError)(
    `Cannot send ${what} through the cluster's broker: ${reason}`,
    { cause: error },
  );
  return wrapped;
}
