// Map chunks of numbers, strings and plain objects of one shape travel packed (lib/_protocol.ts:
// packChunk); every value must arrive as it was sent, and whatever cannot be packed must still
// travel as before.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import {
  copyNumbers,
  packChunk,
  type PackedCodes,
  type PackedObjects,
  type PackedStrings,
  SpareNumbers,
  StringPacker,
  unpackChunk,
} from "../lib/_protocol.ts";

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

/** Numbers a copy could get wrong: -0, the int32 edges and past them, fractions, NaN. */
const EDGES = [
  -0,
  0,
  1,
  -1,
  2 ** 30 - 1,
  2 ** 30,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 1,
  2 ** 53,
  0.5,
  -1.5,
  NaN,
  Infinity,
  -Infinity,
  5e-324,
];

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

  test("ASCII strings travel as bytes, and a chunk with any other character as text", () => {
    // More than 256 distinct strings: fewer travel as codes (the next test).
    const ascii = Array.from(
      { length: 1200 },
      (_, i) => ["", "\u0000", "\x7f", `item-${i}`][i % 4],
    );
    const packed = packChunk(ascii) as PackedStrings;
    assert.ok(packed.text instanceof Uint8Array);
    assert.deepStrictEqual(unpackChunk(structuredClone(packed)), ascii);
    for (const odd of ["\x80", "\xff", "\u0100", "\ud800", "🙂"]) {
      const items = [...ascii, `last${odd}`];
      const text = packChunk(items) as PackedStrings;
      assert.equal(typeof text.text, "string", JSON.stringify(odd));
      assert.deepStrictEqual(unpackChunk(structuredClone(text)), items);
    }
    // A column of objects takes the same path.
    const objects = ascii.map((tag, i) => ({ i, tag }));
    const columns = (packChunk(objects) as PackedObjects).columns;
    assert.ok(columns[0] instanceof Float64Array);
    assert.ok((columns[1] as PackedStrings).text instanceof Uint8Array);
    assert.deepStrictEqual(unpackChunk(structuredClone(packChunk(objects))), objects);
  });

  test("strings of at most 256 distinct values travel as codes, and every value comes back", () => {
    const odd = oddStrings(10).map((s, i) => Array.from({ length: 26 }, (_, j) => `${s}${i}:${j}`))
      .flat().slice(0, 256);
    assert.equal(new Set(odd).size, 256);
    const items = Array.from({ length: 1000 }, (_, i) => odd[(i * 7) % 256]);
    const packed = packChunk(items) as PackedCodes;
    assert.ok(packed.codes instanceof Uint8Array);
    assert.equal(packed.dict.length, 256);
    assert.deepStrictEqual(unpackChunk(structuredClone(packed)), items);
    // One more distinct value: the text path.
    const more = [...items, "the 257th"];
    const text = packChunk(more) as PackedStrings;
    assert.ok("text" in text);
    assert.deepStrictEqual(unpackChunk(structuredClone(text)), more);
    // A value that is not a string, first or last: the chunk goes as it is.
    for (const other of [null, 1, undefined]) {
      const list = [...items, other];
      assert.strictEqual(packChunk(list), list);
      const first = [other, ...items];
      assert.strictEqual(packChunk(first), first);
    }
  });

  test("a column of codes that turns to other values part way keeps every value", () => {
    const odd = oddStrings(300);
    const cases = [
      // A 257th distinct string part way: the column goes on as values, then as text.
      (i: number) => odd[i % 300],
      // A value of another type part way.
      (i: number) => i === 150 ? null : i === 151 ? 7 : i === 152 ? undefined : odd[i % 5],
      // Codes to the end: two values.
      (i: number) => i % 2 === 0 ? "even" : "odd",
    ];
    for (const tagOf of cases) {
      const objects = Array.from({ length: 600 }, (_, i) => ({ id: i, tag: tagOf(i) }));
      const packed = packChunk(objects) as PackedObjects;
      assert.ok(packed.columns[0] instanceof Float64Array);
      assert.deepStrictEqual(unpackChunk(structuredClone(packed)), objects);
    }
    const both = (packChunk(
      Array.from({ length: 100 }, (_, i) => ({ a: i % 3 ? "x" : "y", b: "z" })),
    ) as PackedObjects).columns as PackedCodes[];
    assert.deepStrictEqual(both.map((c) => c.dict), [["y", "x"], ["z"]]);
  });

  test("strings with more text than 2^26 characters in all go as they are", () => {
    // More than 256 distinct strings: fewer travel as codes, with no joined text.
    const long = Array.from(
      { length: 260 },
      (_, i) => String.fromCharCode(97 + i % 26).repeat(2 ** 18 - 3) + String(i).padStart(3, "0"),
    );
    // assert.ok, not strictEqual: a failure must not print 64 MB of text.
    assert.ok(packChunk(long) === long, "more than 2^26 characters in all: not packed");
    const short = long.map((s) => s.slice(4096));
    assert.ok(packChunk(short) !== short, "fewer than 2^26 characters in all: packed");
  });

  test("a column that starts as numbers and turns to other values part way keeps every value", () => {
    const objects = Array.from({ length: 200 }, (_, i) => ({
      a: i < 150 ? EDGES[i % EDGES.length] : i === 150 ? "s" : i === 151 ? null : i,
      b: i,
    }));
    const packed = packChunk(objects) as PackedObjects;
    assert.ok(Array.isArray(packed.columns[0]));
    assert.ok(packed.columns[1] instanceof Float64Array);
    const back = unpackChunk(structuredClone(packed)) as Array<{ a: unknown }>;
    assert.deepStrictEqual(back, objects);
    assert.ok(Object.is(back[0].a, -0));
  });

  test("a column of numbers gives every number back as it was, whole ones and -0 among them", () => {
    const objects = Array.from({ length: 170 }, (_, i) => ({
      n: EDGES[i % EDGES.length],
      tag: i % 2 === 0 ? "a" : "b",
    }));
    const packed = packChunk(objects) as PackedObjects;
    assert.ok(packed.columns[0] instanceof Float64Array);
    const back = unpackChunk(structuredClone(packed)) as Array<{ n: number }>;
    assert.deepStrictEqual(back, objects);
    assert.ok(Object.is(back[0].n, -0));
    assert.ok(Number.isNaN(back[13].n));
  });

  test("with code from strings switched off, objects pack and unpack as they were", () => {
    // The packer and the maker of a shape are made from source text; where the runtime
    // refuses that, each has a loop of its own. A shape of its own, so none is cached yet.
    const objects = Array.from({ length: 300 }, (_, i) => ({
      noCodeNum: i < 250 ? EDGES[i % EDGES.length] : `s${i}`,
      noCodeTag: i % 3 === 0 ? "x" : "y",
      noCodeAny: i % 5 === 0 ? null : i % 2 === 0,
    }));
    const original = globalThis.Function;
    globalThis.Function = function () {
      throw new EvalError("Code generation from strings disallowed for this context");
    } as unknown as FunctionConstructor;
    try {
      const packed = packChunk(objects) as PackedObjects;
      assert.ok(!Array.isArray(packed), "packed all the same");
      assert.ok(Array.isArray(packed.columns[0]), "the column turned to values part way");
      const back = unpackChunk(structuredClone(packed)) as Array<{ noCodeNum: unknown }>;
      assert.deepStrictEqual(back, objects);
      assert.ok(Object.is(back[0].noCodeNum, -0));
      const numbers = objects.slice(0, 200);
      const again = unpackChunk(structuredClone(packChunk(numbers))) as typeof numbers;
      assert.deepStrictEqual(again, numbers);
    } finally {
      globalThis.Function = original;
    }
  });

  test("an enumerable key inherited from Object.prototype keeps objects from being packed", () => {
    const objects = Array.from({ length: 100 }, (_, i) => ({ a: i }));
    assert.notStrictEqual(packChunk(objects), objects);
    Object.defineProperty(Object.prototype, "inheritedForTest", {
      value: 1,
      enumerable: true,
      configurable: true,
    });
    try {
      assert.strictEqual(packChunk(objects), objects);
    } finally {
      delete (Object.prototype as Record<string, unknown>).inheritedForTest;
    }
  });

  test("copyNumbers copies every number as it was, -0 and NaN among them", () => {
    const from = Float64Array.from(EDGES);
    const to = new Array(from.length + 2).fill("x");
    copyNumbers(from, to, 1);
    assert.deepStrictEqual(to, ["x", ...EDGES, "x"]);
    assert.ok(Object.is(to[1], -0));
  });

  test("SpareNumbers keeps whole buffers of a length, up to 16 MiB, and none once closed", () => {
    const spares = new SpareNumbers();
    assert.equal(spares.take(100), undefined);
    const chunk = new Float64Array(100);
    spares.give(chunk);
    assert.equal(spares.take(99), undefined);
    assert.equal(spares.take(100), chunk);
    assert.equal(spares.take(100), undefined, "a spare is taken once");
    // A view of part of a buffer, a shared buffer and a short chunk are not kept.
    spares.give(new Float64Array(new ArrayBuffer(8 * 200), 8, 100));
    spares.give(new Float64Array(new SharedArrayBuffer(8 * 100)));
    spares.give(new Float64Array(10));
    assert.equal(spares.take(100), undefined);
    assert.equal(spares.take(10), undefined);
    // Up to 16 MiB: eight of 2 MiB, not a ninth.
    const big = 2 ** 18;
    for (let i = 0; i < 9; i++) spares.give(new Float64Array(big));
    let kept = 0;
    while (spares.take(big) !== undefined) kept++;
    assert.equal(kept, 8);
    spares.give(new Float64Array(big));
    spares.close();
    assert.equal(spares.take(big), undefined);
    spares.give(new Float64Array(big));
    assert.equal(spares.take(big), undefined, "a closed store keeps nothing");
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

  test("StringPacker packs strings as they come as packChunk packs their list, or stops", () => {
    // Each case: the strings added, and how many it takes before it stops (all when it does not).
    const few = Array.from({ length: 300 }, (_, i) => `tag-${i % 7}`);
    const many = Array.from({ length: 300 }, (_, i) => `item-${i}`);
    const cases: [string, unknown[], number][] = [
      ["few distinct, as codes", few, 300],
      ["a 257th distinct part way, on as bytes", [...few, ...many], 600],
      ["bytes that outgrow their room", many.map((s) => s.repeat(40)), 300],
      ["a number part way through codes", [...few.slice(0, 50), 7, ...few], 50],
      ["a number part way through bytes", [...many, 7, ...many], 300],
      ["non-ASCII part way through bytes", [...many, "é", ...many], 300],
      ["non-ASCII among codes, then a 257th distinct", ["é", ...many], 256],
      ["a 257th distinct that is not ASCII", [...many.slice(0, 256), "ü"], 256],
    ];
    for (const [what, items, takes] of cases) {
      const packer = new StringPacker(items.length, 4);
      let n = 0;
      while (n < items.length && packer.add(items[n])) n++;
      assert.equal(n, takes, what);
      const listed = new Array(n);
      packer.listInto(listed);
      assert.deepStrictEqual(listed, items.slice(0, n), what);
      if (n < items.length) continue;
      const packed = packer.packed();
      assert.deepStrictEqual(packed, packChunk(items), what);
      assert.deepStrictEqual(unpackChunk(structuredClone(packed)), items, what);
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

    test("map of strings and objects of few distinct values gives every value as it was", async () => {
      await using pool = new lib.Pool(2);
      const kinds = oddStrings(10);
      const labels = Array.from({ length: 1000 }, (_, i) => kinds[i % 10]);
      assert.deepStrictEqual(await pool.map((s: string) => s, labels, 100), labels);
      // Results of few values from items of many, and the reverse.
      const parity = (i: number) => (i % 2 === 0 ? "even" : "odd");
      const xs = [...Array(1000).keys()];
      assert.deepStrictEqual(await pool.map(parity, xs, 100), xs.map(parity));
      const rows = xs.map((i) => ({ id: i, tag: kinds[i % 10], group: i < 500 ? "a" : `g${i}` }));
      const bump = (o: { id: number; tag: string; group: string }) => ({ ...o, id: o.id + 1 });
      assert.deepStrictEqual(await pool.map(bump, rows, 1000), rows.map(bump));
      assert.deepStrictEqual(await pool.map(bump, rows, 100), rows.map(bump));
    });

    test("map gives every number as it was, map after map and two at once on one pool", async () => {
      await using pool = new lib.Pool(2);
      const xs = Array.from(
        { length: 1000 },
        (_, i) => i % 2 === 0 ? EDGES[i % EDGES.length] : EDGES[i % EDGES.length] + 1,
      );
      const same = (x: number) => x;
      const twice = (x: number) => x * 2;
      for (let round = 0; round < 3; round++) {
        const got = await pool.map(same, xs, 100);
        assert.deepStrictEqual(got, xs);
        assert.ok(Object.is(got[0], -0));
        const [a, b] = await Promise.all([pool.map(twice, xs, 100), pool.map(same, xs, 125)]);
        assert.deepStrictEqual(a, xs.map(twice));
        assert.deepStrictEqual(b, xs);
      }
      // Numbers up to the last item of a chunk, whose pack (into a spare) is then dropped.
      const mixed: unknown[] = [...xs];
      mixed[999] = "s";
      assert.deepStrictEqual(await pool.map((x: unknown) => x, mixed, 100), mixed);
      assert.deepStrictEqual(await pool.map(twice, xs, 100), xs.map(twice));
    });

    test("map chunks sent in one go with an argument that cannot be cloned arrive whole", async () => {
      // A failed send may detach the buffers it was to move (Deno does): the chunks that
      // go again are packed again from their lists.
      await using pool = new lib.Pool(1);
      const same = (x: unknown) => x;
      await pool.map(same, [1, 2]);
      const lists = [
        Array.from({ length: 400 }, (_, i) => i / 3),
        Array.from({ length: 400 }, (_, i) => `item-${i}`),
        Array.from({ length: 400 }, (_, i) => ({ i, tag: `t${i}` })),
      ];
      const maps = lists.map((items) => pool.mapAsync(same, items, { chunksize: 100 }));
      const bad = pool.applyAsync((x: unknown) => typeof x, [() => 1]);
      for (let k = 0; k < lists.length; k++) assert.deepStrictEqual(await maps[k].get(), lists[k]);
      if (entry === "mod.ts") await assert.rejects(bad.get(), /cannot be cloned/);
      else assert.equal(await bad.get(), "function");
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

    test("map of strings gives every result as it was when their kind changes part way", async () => {
      // A worker packs a chunk's results as they come while they are strings (codes while
      // few are distinct, then bytes), and lists them from where one is not: each change
      // part way through a chunk must keep every result before it.
      await using pool = new lib.Pool(2);
      const items = Array.from({ length: 4000 }, (_, i) => `item-${i}`);
      const kinds = (s: string) => {
        const i = Number(s.slice(5));
        const at = i % 1000;
        switch (Math.floor(i / 1000)) {
          case 0: // few distinct, then many: codes, then bytes
            return at < 600 ? `k${at % 5}` : `${s}+`;
          case 1: // few distinct, then not ASCII, then a number
            return at < 300 ? `k${at % 5}` : at < 700 ? `é${at}` : at;
          case 2: // bytes growing long, then an object, then a promise
            return at < 500 ? s.repeat(at % 50) : at < 900 ? { at } : Promise.resolve(at);
          default: // few distinct, then a promise at once
            return at < 400 ? `k${at % 3}` : Promise.resolve(`late ${at}`);
        }
      };
      const expected = await Promise.all(items.map(kinds));
      for (const chunksize of [1000, 250]) {
        assert.deepStrictEqual(await pool.map(kinds, items, chunksize), expected);
      }
    });

    test("big chunks give every result as it was, chunk after chunk, whatever each returns", async () => {
      // A worker keeps the lists of a chunk's items and results for its next chunk once their
      // results are packed (chunks of 4096 items and more): results that go unpacked, a
      // throw, a promise part way, and a shorter last chunk must each leave the next intact.
      await using pool = new lib.Pool(1);
      const n = 5000;
      const strings = Array.from({ length: 12 * n + 7 }, (_, i) => `item-${i}`);
      // By chunk: strings back (packed), then mixed kinds (not packed), in turn.
      const turns = (s: string) => {
        const i = Number(s.slice(5));
        return Math.floor(i / 5000) % 2 === 0 ? `${s}!` : i % 2 === 0 ? i : [s];
      };
      for (let round = 0; round < 2; round++) {
        assert.deepStrictEqual(await pool.map(turns, strings, n), strings.map(turns));
      }
      const objects = strings.map((s, i) => ({ id: i, tag: s.slice(0, 6) }));
      const bump = (o: { id: number; tag: string }) => ({ id: o.id + 1, tag: `${o.tag}+` });
      assert.deepStrictEqual(await pool.map(bump, objects, n), objects.map(bump));
      const throwsIn = (o: { id: number }) => {
        if (o.id === 2 * 5000 + 17) throw new Error(`no ${o.id}`);
        return o.id;
      };
      await assert.rejects(pool.map(throwsIn, objects, n), /no 10017/);
      const late = (x: { id: number } | string) => {
        const i = typeof x === "string" ? Number(x.slice(5)) : x.id;
        return i % 5000 === 4000 ? Promise.resolve(`late ${i}`) : `now ${i}`;
      };
      for (const items of [strings, objects, strings]) {
        assert.deepStrictEqual(await pool.map(late, items, n), await Promise.all(items.map(late)));
        assert.deepStrictEqual(await pool.map(bump, objects, n), objects.map(bump));
        assert.deepStrictEqual(await pool.map(turns, strings, n), strings.map(turns));
      }
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
