import { describe, expect, it } from "vitest";
import { leafHash, memorySubtrees, treeHash } from "../../tlog/merkle.js";
import {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  parseTilePath,
  tileFromSubtrees,
  tilePath,
  tileSubtrees,
  tilesForSize,
  tileWidthAt,
  type TileRef,
} from "../../tlog/tiles.js";

const name = (t: TileRef) => tilePath(t);

describe("C2SP tlog-tiles paths", () => {
  it("spells indexes as 3-digit elements and partial tiles with .p/W, as the spec's examples", () => {
    expect(tilePath({ level: 4, index: 1234067, width: 1 })).toBe("tile/4/x001/x234/067.p/1");
    expect(tilePath({ level: 0, index: 0, width: 256 })).toBe("tile/0/000");
    expect(tilePath({ level: "entries", index: 1000, width: 112 })).toBe("tile/entries/x001/000.p/112");
  });

  it("parses what it writes, and refuses every other spelling", () => {
    for (const t of [
      { level: 0, index: 0, width: 256 },
      { level: 63, index: 999, width: 255 },
      { level: "entries", index: 1234067, width: 1 },
    ] as const)
      expect(parseTilePath(tilePath(t))).toEqual(t);
    for (const bad of [
      "tile/0/5",
      "tile/0/x000/005",
      "tile/00/005",
      "tile/64/000",
      "tile/0/000.p/256",
      "tile/0/000.p/0",
      "tile/0/000.p/007",
      "tile/data/000",
      "tile/0/001/002",
      "tile/0/x001",
      "tiles/0/000",
      "tile/0/",
    ])
      expect(() => parseTilePath(bad), bad).toThrow(/tile path/);
  });
});

describe("the tiles of a tree", () => {
  it("are the spec's example for 70,000 entries: 273 full level-0 tiles and partials of 112, 17 and 1", () => {
    const tiles = tilesForSize(70_000).filter((t) => t.level !== "entries");
    const at = (level: number) => tiles.filter((t) => t.level === level);
    expect(at(0).filter((t) => t.width === 256)).toHaveLength(273);
    expect(
      at(0)
        .filter((t) => t.width < 256)
        .map(name),
    ).toEqual(["tile/0/273.p/112"]);
    expect(at(1).map(name)).toEqual(["tile/1/000", "tile/1/001.p/17"]);
    expect(at(2).map(name)).toEqual(["tile/2/000.p/1"]);
    expect(tiles).toHaveLength(277);
    expect(tilesForSize(70_000).filter((t) => t.level === "entries")).toHaveLength(274);
    // "A tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    expect(tilesForSize(256).map(name)).toEqual(["tile/0/000", "tile/1/000.p/1", "tile/entries/000"]);
    expect(tilesForSize(0)).toEqual([]);
  });

  it("since an earlier size, are only those a copy of that size lacks", () => {
    expect(tilesForSize(70_000, 70_000)).toEqual([]);
    expect(tilesForSize(70_000, 69_999).map(name)).toEqual(["tile/0/273.p/112", "tile/entries/273.p/112"]);
    expect(tilesForSize(512, 300).map(name)).toEqual(["tile/0/001", "tile/1/000.p/2", "tile/entries/001"]);
    // Together, the copy at `since` and the tiles since then are every tile of the new size.
    const old = new Set(tilesForSize(66_000).map(name));
    for (const t of tilesForSize(70_000))
      expect(old.has(name(t)) || tilesForSize(70_000, 66_000).some((u) => name(u) === name(t))).toBe(true);
  });

  it("give the tree's root through tileSubtrees, at every shape of the right edge", async () => {
    const leaves = Array.from({ length: 70_000 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    const memory = memorySubtrees(leaves);
    for (const size of [1, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, 70_000]) {
      const tiles = new Map<string, Buffer[]>();
      for (const t of tilesForSize(size))
        if (t.level !== "entries") tiles.set(name(t), decodeTile(await tileFromSubtrees(memory, { ...t, level: t.level }), t.width));
      const fromTiles = tileSubtrees(size, async (t) => tiles.get(name(t)) ?? null);
      expect((await treeHash(fromTiles, size)).equals(await treeHash(memory, size)), `size ${size}`).toBe(true);
    }
    expect(tileWidthAt(70_000, 1, 1)).toBe(17);
    expect(tileWidthAt(70_000, 1, 2)).toBe(0);
  });
});

describe("entry bundles", () => {
  it("are entries with big-endian uint16 length prefixes", () => {
    const bundle = encodeEntryBundle([Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(300, 7)]);
    expect(bundle.subarray(0, 3)).toEqual(Buffer.from([0, 1, 0x61]));
    expect(bundle.subarray(3, 7)).toEqual(Buffer.from([0, 0, 1, 44]));
    expect(decodeEntryBundle(bundle).map((e) => e.length)).toEqual([1, 0, 300]);
  });

  it("refuse an entry too long for the prefix, and name where a damaged bundle stops", () => {
    expect(() => encodeEntryBundle([Buffer.alloc(65_536)])).toThrow(/does not fit/);
    const bundle = encodeEntryBundle([Buffer.from("one"), Buffer.from("two")]);
    expect(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1))).toThrow(/Entry 1 of the bundle: 3 bytes announced, 2 left/);
    expect(() => decodeEntryBundle(Buffer.concat([bundle, Buffer.from([0])]))).toThrow(/Entry 2 .*cut short/);
  });
});
