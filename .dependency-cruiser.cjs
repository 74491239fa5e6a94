/**
 * The layers of dpki (README "Layout"), checked on every `npm test`: dependencies point down.
 *   cli/, src/http/  ->  src/operations/ (the facade both call)  ->  src/core/ (services)
 *     ->  ca/ (PKI engine), src/store/ (persistence) -> tlog/ (log formats)
 * `src/app.ts` is the composition root and may import anything below it.
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "A cycle makes the order of module start-up matter and layers meaningless.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "ca-is-pure-pki",
      comment: "ca/ knows nothing of HTTP, SQL, services or the CLI.",
      severity: "error",
      from: { path: "^ca/" },
      to: { path: "^(src|cli)/" },
    },
    {
      name: "tlog-is-pure-formats",
      comment: "tlog/ holds the transparency-log formats (RFC 6962 trees, C2SP notes); auditors' tools use it alone.",
      severity: "error",
      from: { path: "^tlog/" },
      to: { path: "^(src|cli|ca)/" },
    },
    {
      name: "store-below-services",
      comment: "The store holds records; services, HTTP and the CLI sit above it.",
      severity: "error",
      from: { path: "^src/store/" },
      to: { path: "^(src/(core|http|dps)/|cli/|src/app\\.ts)" },
    },
    {
      name: "services-below-edges",
      comment: "Services are called by the HTTP layer and the CLI, never the reverse.",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^(src/(http|dps)/|cli/|src/app\\.ts)" },
    },
    {
      name: "operations-below-edges",
      comment: "The Operations facade is what the CLI and the HTTP routes call; it knows neither.",
      severity: "error",
      from: { path: "^src/operations/" },
      to: { path: "^(src/(http|dps)/|cli/)" },
    },
    {
      name: "adapters-only-in-app",
      comment: "Store implementations (SQLite today) are chosen in src/app.ts; everything else sees the store interfaces.",
      severity: "error",
      from: { path: "^(src/(core|http|dps|operations)|cli)/|^src/(?!app\\.ts)[^/]+\\.ts$" },
      to: { path: "^src/store/sqlite/" },
    },
    {
      name: "pki-parsing-in-ca",
      comment: "Certificates, CSRs and keys are parsed and built in ca/ (ca/x509-certificate.ts for foreign certificates); the ASN.1 libraries stay there.",
      severity: "error",
      from: { path: "^(src|cli)/" },
      to: { path: "node_modules/(@peculiar/x509|pkijs|asn1js)/" },
    },
    {
      name: "http-not-cli",
      comment: "The HTTP server and the device listener do not depend on the command line.",
      severity: "error",
      from: { path: "^src/(http|dps)/" },
      to: { path: "^cli/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^dist/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    parser: "swc",
  },
};
