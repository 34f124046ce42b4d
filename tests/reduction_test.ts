import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeShared, encodeShared } from "../lib/reduction.ts";
import * as mp from "../mod.ts";
import { type bump, type makeCounter, SharedCounter } from "./fixtures/shared_counter.ts";

const fixture = new URL("./fixtures/shared_counter.ts", import.meta.url).href;

describe("reduction: shared objects", () => {
  test("encodeShared() leaves values without shared objects as they are", () => {
    const value = { a: [1, { b: "c" }], m: new Map([[1, [2]]]), s: new Set([3]) };
    assert.equal(encodeShared(value), value);
  });

  test("encodeShared() replaces shared objects without changing the input", () => {
    const counter = new SharedCounter();
    const value = { list: [1, counter], nested: { counter }, map: new Map([["k", counter]]) };
    const encoded = encodeShared(value) as typeof value;
    assert.notEqual(encoded, value);
    assert.equal(value.list[1], counter, "the input is unchanged");
    const copy = structuredClone(encoded);
    const decoded = decodeShared(copy) as typeof value;
    assert.ok(decoded.list[1] instanceof SharedCounter);
    assert.ok(decoded.nested.counter instanceof SharedCounter);
    assert.ok(decoded.map.get("k") instanceof SharedCounter);
    (decoded.list[1] as SharedCounter).add(5);
    assert.equal(counter.value, 5, "the revived counter shares the original's memory");
  });

  test("decodeShared() names an unknown kind and how to fix it", () => {
    assert.throws(
      () => decodeShared({ __mp_shared__: "Nope", state: null }),
      /Cannot receive a shared 'Nope' .*import the module that defines it/,
    );
  });

  test("Pool tasks receive shared objects inside arrays, objects and Maps", async () => {
    await using pool = new mp.Pool(2);
    const counter = new SharedCounter();
    const arg = { list: [counter, counter], nested: { counter }, map: new Map([["c", counter]]) };
    const kinds = await pool.map(mp.fromModule<typeof bump>(fixture, "bump"), [arg, arg], 1);
    assert.deepEqual(kinds, [Array(4).fill("SharedCounter"), Array(4).fill("SharedCounter")]);
    assert.equal(counter.value, 8);
  });

  test("Pool results bring shared objects made in a worker back as their class", async () => {
    await using pool = new mp.Pool(1);
    const made = await pool.apply(mp.fromModule<typeof makeCounter>(fixture, "makeCounter"), [41]);
    assert.ok(made instanceof SharedCounter);
    assert.equal(made.add(1), 42);
    // And it is still shared: the worker that made it sees the main thread's write.
    const seen = await pool.apply((c: SharedCounter) => c.value, [made]);
    assert.equal(seen, 42);
  });
});
