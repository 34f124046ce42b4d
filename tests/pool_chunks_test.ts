// Map chunks of numbers, strings and plain objects of one shape travel packed (lib/_protocol.ts:
// packChunk); every value must arrive as it was sent, and whatever cannot be packed must still
// travel as before.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { packChunk, unpackChunk } from "../lib/_protocol.ts";

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

/** Strings that a packer could get wrong: empty, astral, lone surrogates, NULs, long ones. */
function oddStrings(n: number): string[] {
  const kinds = [
    "",
    "a",
    "é",
    "日本語",
    "🙂🙃",
    "\ud800",
    "x\udfffy",
    "\u0000\u0000",
    "tab\tnew\nline",
    "z".repeat(5000),
  ];
  return Array.from({ length: n }, (_, i) => `${kinds[i % kinds.length]}${i % 3 === 0 ? "" : i}`);
}

/** Objects of one shape whose columns hold every kind of primitive. */
function oddObjects(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    "2": i % 2 === 0,
    id: i,
    neg: i === 5 ? -0 : i % 7 === 0 ? NaN : i % 11 === 0 ? -Infinity : -i / 3,
    tag: i % 4 === 0 ? "" : `t${i}🙂`,
    big: BigInt(i) * 10n ** 20n,
    maybe: i % 3 === 0 ? null : i % 3 === 1 ? undefined : "s",
    mixed: i % 2 === 0 ? i : `${i}`,
  }));
}

class Point {
  x: number;
  constructor(x: number) {
    this.x = x;
  }
}

describe("packed chunks (lib/_protocol.ts)", () => {
  test("packChunk packs numbers, strings and objects of one shape, and unpackChunk restores them", () => {
    const numbers = Array.from({ length: 100 }, (_, i) => i / 7);
    const strings = oddStrings(100);
    const objects = oddObjects(100);
    for (const items of [numbers, strings, objects]) {
      const packed = packChunk(items);
      assert.ok(!Array.isArray(packed), "a chunk of 100 plain items is packed");
      const back = Array.from(unpackChunk(structuredClone(packed)));
      assert.deepStrictEqual(back, items);
    }
    const back = unpackChunk(structuredClone(packChunk(objects))) as Record<string, unknown>[];
    assert.deepStrictEqual(Object.keys(back[0]), Object.keys(objects[0]));
    assert.ok(Object.is(back[5].neg, -0));
  });

  test("packChunk leaves as they are chunks it cannot pack faithfully", () => {
    const shape = (i: number) => ({ a: i, b: "x" });
    const cases: Record<string, unknown[]> = {
      "a short chunk": Array.from({ length: 10 }, (_, i) => shape(i)),
      "another shape at the end": [...Array.from({ length: 99 }, (_, i) => shape(i)), {
        b: "x",
        a: 1,
      }],
      "an extra key": [...Array.from({ length: 99 }, (_, i) => shape(i)), { a: 1, b: "x", c: 2 }],
      "a nested object": Array.from({ length: 100 }, (_, i) => ({ a: i, b: { c: i } })),
      "a __proto__ key": Array.from({ length: 100 }, (_, i) => JSON.parse(`{"__proto__": ${i}}`)),
      "a null prototype": Array.from(
        { length: 100 },
        (_, i) => Object.assign(Object.create(null), { a: i }),
      ),
      "class instances": Array.from({ length: 100 }, (_, i) => new Point(i)),
      "a string among numbers": [...Array.from({ length: 99 }, (_, i) => i), "1"],
      "a number among strings": [...Array.from({ length: 99 }, (_, i) => `${i}`), 1],
      "arrays": Array.from({ length: 100 }, (_, i) => [i]),
      "a hole": [...Array.from({ length: 99 }, (_, i) => `${i}`), , "x"],
    };
    for (const [what, items] of Object.entries(cases)) {
      assert.strictEqual(packChunk(items), items, what);
    }
  });
});

for (const [entry, lib] of entries) {
  describe(`map of strings and objects (${entry})`, () => {
    test("map returns every string exactly, whatever it holds", async () => {
      await using pool = new lib.Pool(2);
      const strings = oddStrings(1000);
      assert.deepStrictEqual(await pool.map((s: string) => s, strings, 100), strings);
      assert.deepStrictEqual(
        await pool.map((s: string) => s + "!", strings),
        strings.map((s) => s + "!"),
      );
      const out: string[] = [];
      for await (const s of pool.imap((s: string) => s.toUpperCase(), strings, 250)) out.push(s);
      assert.deepStrictEqual(out, strings.map((s) => s.toUpperCase()));
    });

    test("map gives every result as it was when a chunk's results change kind part way", async () => {
      await using pool = new lib.Pool(2);
      const xs = [...Array(1000).keys()];
      // Numbers (-0 and NaN among them), then in each chunk of 250 a string, an object and
      // undefined after 100 numbers; then a promise after 200.
      const odd = (i: number) =>
        i % 250 < 100
          ? (i === 0 ? -0 : i === 1 ? NaN : i / 4)
          : i % 250 === 100
          ? `s${i}`
          : i % 250 === 101
          ? { i }
          : i % 250 === 102
          ? undefined
          : i % 250 === 200
          ? Promise.resolve(i * 2)
          : i;
      const want = await Promise.all(xs.map(odd));
      const got = await pool.map(odd, xs, 250);
      assert.deepStrictEqual(got, want);
      assert.ok(Object.is(got[0], -0));
      assert.ok(Number.isNaN(got[1]));
      // All numbers but one promise in each chunk.
      const late = (i: number) => (i % 250 === 249 ? Promise.resolve(-i) : i * 3);
      assert.deepStrictEqual(await pool.map(late, xs, 250), await Promise.all(xs.map(late)));
    });

    test("map returns plain objects of one shape exactly: keys in order, every primitive", async () => {
      await using pool = new lib.Pool(2);
      const objects = oddObjects(1000);
      const back = await pool.map((o: Record<string, unknown>) => o, objects, 200);
      assert.deepStrictEqual(back, objects);
      for (const o of back) assert.deepStrictEqual(Object.keys(o), Object.keys(objects[0]));
      assert.ok(Object.is(back[5].neg, -0));
      const made = await pool.map((i: number) => ({ i, half: i / 2, name: `n${i}` }), [
        ...Array(500).keys(),
      ]);
      assert.deepStrictEqual(
        made,
        [...Array(500).keys()].map((i) => ({ i, half: i / 2, name: `n${i}` })),
      );
    });

    test("map of objects that cannot be packed still gives every value as it was", async () => {
      await using pool = new lib.Pool(2);
      const mixed = Array.from(
        { length: 300 },
        (_, i) => i % 150 === 149 ? { b: i, a: "x" } : { a: "x", b: i },
      );
      assert.deepStrictEqual(await pool.map((o: object) => o, mixed, 300), mixed);
      const nested = Array.from({ length: 300 }, (_, i) => ({ a: i, inner: { b: [i, `${i}`] } }));
      assert.deepStrictEqual(await pool.map((o: object) => o, nested, 150), nested);
      const protoKey = Array.from({ length: 300 }, (_, i) => JSON.parse(`{"__proto__": ${i}}`));
      const back = await pool.map((o: object) => Object.keys(o), protoKey, 300);
      assert.deepStrictEqual(back, protoKey.map(() => ["__proto__"]));
      const shapes = await pool.map(
        (i: number) => i === 299 ? { other: i } : { a: i },
        [...Array(300).keys()],
        300,
      );
      assert.deepStrictEqual(shapes[299], { other: 299 });
      assert.deepStrictEqual(shapes[0], { a: 0 });
    });

    test("map of objects holding a Lock shares the lock, as before packing", async () => {
      await using pool = new lib.Pool(2);
      const lock = new lib.Lock();
      const items = Array.from({ length: 100 }, (_, i) => ({ i, lock }));
      const states = await pool.map(
        (o: { lock: { locked(): boolean } }) => o.lock.locked(),
        items,
        100,
      );
      assert.deepStrictEqual(states, items.map(() => false));
      await lock.acquire();
      const held = await pool.map(
        (o: { lock: { locked(): boolean } }) => o.lock.locked(),
        items,
        100,
      );
      assert.deepStrictEqual(held, items.map(() => true));
      lock.release();
    });
  });
}
