import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The server's Prometheus metrics, in a registry of its own (several servers may share a process in tests). */
export class HttpMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "route" | "status">;
  readonly duration: Histogram<"method" | "route">;
  readonly errors: Counter<"code">;
  readonly issued: Counter<"profile">;
  readonly issuanceFailures: Counter<"code">;
  readonly revoked: Counter<"reason">;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "dpki_http_requests_total",
      help: "HTTP requests answered, by route template and status",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.duration = new Histogram({
      name: "dpki_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by route template",
      labelNames: ["method", "route"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.errors = new Counter({
      name: "dpki_http_errors_total",
      help: "Problem responses sent, by error code",
      labelNames: ["code"],
      registers,
    });
    this.issued = new Counter({
      name: "dpki_certificates_issued_total",
      help: "Certificates issued through the API, by profile",
      labelNames: ["profile"],
      registers,
    });
    this.issuanceFailures = new Counter({
      name: "dpki_issuance_failures_total",
      help: "Issuance requests refused or failed (batch items included), by error code",
      labelNames: ["code"],
      registers,
    });
    this.revoked = new Counter({
      name: "dpki_certificates_revoked_total",
      help: "Certificates revoked through the API, by reason",
      labelNames: ["reason"],
      registers,
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "dpki_" });
  }
}
