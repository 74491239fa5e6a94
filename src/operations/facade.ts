/** Where a facade keeps its parts: a symbol, so no method name of a part can clash with it. */
const PARTS = Symbol("parts");

/**
 * A class whose instances answer every method of the given part classes by calling the part
 * that defines it (the first one, should two share a name). Each part is still built and run on
 * its own, so its private helpers and scope checks stay its own; the forwarding methods are
 * made once, here, so an instance costs only its parts: one per HTTP request is cheap.
 */
export function facade<A extends unknown[]>(...parts: Array<new (...args: A) => object>): new (...args: A) => object {
  class Facade {
    readonly [PARTS]: Array<Record<string, (...args: unknown[]) => unknown>>;
    constructor(...args: A) {
      this[PARTS] = parts.map((Part) => new Part(...args) as Record<string, (...args: unknown[]) => unknown>);
    }
  }
  parts.forEach((Part, i) => {
    for (const [name, property] of Object.entries(Object.getOwnPropertyDescriptors(Part.prototype))) {
      if (name === "constructor" || typeof property.value !== "function" || Object.hasOwn(Facade.prototype, name)) continue;
      Object.defineProperty(Facade.prototype, name, {
        value(this: Facade, ...args: unknown[]) {
          return this[PARTS][i]![name]!(...args);
        },
      });
    }
  });
  return Facade;
}
