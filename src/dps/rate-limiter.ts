/**
 * Per-source token buckets: each source address may make `burst` requests at once and
 * `perSecond` on average. One source emptying its bucket never slows another. The table is
 * bounded: the least recently seen sources are dropped first (they start again with a full bucket).
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxSources = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `source`; returns 0 when allowed, else the seconds until a token is free. */
  take(source: string): number {
    const t = this.now();
    let bucket = this.buckets.get(source);
    if (bucket) {
      this.buckets.delete(source);
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((t - bucket.at) / 1000) * this.limit.perSecond);
      bucket.at = t;
    } else {
      bucket = { tokens: this.limit.burst, at: t };
      if (this.buckets.size >= this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(source, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }
}
