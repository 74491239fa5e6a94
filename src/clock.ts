/** Injected everywhere time matters, so tests can pin it. Always UTC. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(at: Date): Clock & { set(at: Date): void; advance(ms: number): void } {
  let current = at.getTime();
  return {
    now: () => new Date(current),
    set: (d) => (current = d.getTime()),
    advance: (ms) => (current += ms),
  };
}
