/**
 * The schema, as named migrations applied once each, in this order, each in a transaction
 * (see SqliteDb). Never edit a shipped migration: append a new one.
 */
export interface Migration {
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    name: "0001-ca-certificates-audit",
    sql: `
  CREATE TABLE cas (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
    parent_id TEXT REFERENCES cas(id),
    key_ref TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    subject TEXT NOT NULL,
    subject_key_id TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at TEXT NOT NULL
  );

  CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL UNIQUE,
    issuer_ca_id TEXT NOT NULL REFERENCES cas(id),
    subject TEXT NOT NULL,
    common_name TEXT,
    sans TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    profile TEXT NOT NULL,
    requester TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    revoked_at TEXT,
    revocation_reason TEXT,
    der BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX certificates_not_after ON certificates (not_after);
  CREATE INDEX certificates_revoked ON certificates (issuer_ca_id, serial) WHERE status = 'revoked';

  -- A revoked certificate never becomes good again, whatever writes to the file.
  CREATE TRIGGER certificates_no_unrevoke BEFORE UPDATE OF status ON certificates
  WHEN OLD.status = 'revoked' AND NEW.status <> 'revoked'
  BEGIN SELECT RAISE(ABORT, 'a revoked certificate cannot become good again'); END;

  CREATE TABLE crls (
    issuer_ca_id TEXT NOT NULL REFERENCES cas(id),
    number INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    entries INTEGER NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (issuer_ca_id, number)
  );

  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    serial TEXT,
    profile TEXT,
    policy_hash TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_serial ON audit_log (serial);
  CREATE INDEX audit_log_at ON audit_log (at);
  `,
  },
  {
    name: "0002-api-tokens",
    sql: `
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'factory', 'hub', 'auditor')),
    secret_hash TEXT NOT NULL,
    profiles TEXT NOT NULL,
    quota_per_day INTEGER,
    scope TEXT,
    hub TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_by TEXT,
    last_used_at TEXT
  );

  -- A revoked token never works again, whatever writes to the file.
  CREATE TRIGGER api_tokens_no_unrevoke BEFORE UPDATE OF revoked_at ON api_tokens
  WHEN OLD.revoked_at IS NOT NULL AND (NEW.revoked_at IS NULL OR NEW.revoked_at <> OLD.revoked_at)
  BEGIN SELECT RAISE(ABORT, 'a revoked token cannot be restored'); END;

  CREATE TABLE api_token_usage (
    token_id TEXT NOT NULL REFERENCES api_tokens(id),
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (token_id, day)
  );
  `,
  },
  {
    name: "0003-dps",
    sql: `
  CREATE TABLE dps_scopes (
    id_scope TEXT PRIMARY KEY COLLATE NOCASE,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
  );

  CREATE TABLE dps_hubs (
    id_scope TEXT NOT NULL REFERENCES dps_scopes(id_scope) ON DELETE CASCADE,
    name TEXT NOT NULL COLLATE NOCASE,
    host_name TEXT NOT NULL COLLATE NOCASE,
    weight INTEGER NOT NULL,
    region TEXT,
    enabled INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id_scope, name),
    UNIQUE (id_scope, host_name)
  );

  -- Individual enrollments (id = registration id) and enrollment groups (id = group id).
  CREATE TABLE dps_enrollments (
    id_scope TEXT NOT NULL REFERENCES dps_scopes(id_scope) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('individual', 'group')),
    id TEXT NOT NULL COLLATE NOCASE,
    attestation_type TEXT NOT NULL CHECK (attestation_type IN ('symmetricKey', 'x509')),
    provisioning_status TEXT NOT NULL CHECK (provisioning_status IN ('enabled', 'disabled')),
    spec TEXT NOT NULL,
    etag TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id_scope, kind, id)
  );
  CREATE INDEX dps_enrollments_groups ON dps_enrollments (id_scope, kind, attestation_type);

  CREATE TABLE dps_registrations (
    id_scope TEXT NOT NULL REFERENCES dps_scopes(id_scope) ON DELETE CASCADE,
    registration_id TEXT NOT NULL COLLATE NOCASE,
    enrollment_kind TEXT NOT NULL CHECK (enrollment_kind IN ('individual', 'group')),
    enrollment_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('assigned', 'failed', 'disabled')),
    substatus TEXT,
    assigned_hub TEXT,
    initial_hub TEXT,
    device_id TEXT,
    attestation TEXT NOT NULL,
    etag TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    issued_serial TEXT,
    error_code INTEGER,
    error_message TEXT,
    payload TEXT,
    initial_twin TEXT,
    iot_edge INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id_scope, registration_id)
  );
  CREATE INDEX dps_registrations_hub ON dps_registrations (id_scope, assigned_hub);
  `,
  },
  {
    name: "0004-lifecycle",
    sql: `
  -- Certificates for a new root signed by an older one (CA rollover with a new root).
  CREATE TABLE ca_cross_certificates (
    ca_id TEXT NOT NULL REFERENCES cas(id),
    issuer_ca_id TEXT NOT NULL REFERENCES cas(id),
    serial TEXT NOT NULL UNIQUE,
    cert_der BLOB NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (ca_id, issuer_ca_id, serial)
  );

  -- Issuing CAs taken out of service; a revoked CA is never restored.
  CREATE TABLE ca_revocations (
    ca_id TEXT PRIMARY KEY REFERENCES cas(id),
    revoked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    revoked_by TEXT NOT NULL
  );
  CREATE TRIGGER ca_revocations_no_delete BEFORE DELETE ON ca_revocations
  BEGIN SELECT RAISE(ABORT, 'a CA revocation cannot be undone'); END;

  -- Delegated OCSP responder certificates, one key each, renewed before they expire.
  CREATE TABLE ocsp_signers (
    serial TEXT PRIMARY KEY,
    issuer_ca_id TEXT NOT NULL REFERENCES cas(id),
    key_ref TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX ocsp_signers_issuer ON ocsp_signers (issuer_ca_id, not_after);

  -- Renewed certificates' predecessors, revoked as superseded when their grace period ends.
  CREATE TABLE certificate_supersessions (
    old_serial TEXT PRIMARY KEY REFERENCES certificates(serial),
    new_serial TEXT NOT NULL REFERENCES certificates(serial),
    supersede_at TEXT NOT NULL,
    done_at TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX certificate_supersessions_due ON certificate_supersessions (supersede_at) WHERE done_at IS NULL;
  `,
  },
  {
    name: "0005-hub-lifecycle",
    sql: `
  -- Shared access policies of a hub (IoT Hub style): tokens carry skn = name. Removed with their hub.
  CREATE TABLE hub_policies (
    id_scope TEXT NOT NULL,
    hub_name TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL COLLATE NOCASE,
    rights TEXT NOT NULL,
    primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    rotated_at TEXT,
    PRIMARY KEY (id_scope, hub_name, name),
    FOREIGN KEY (id_scope, hub_name) REFERENCES dps_hubs (id_scope, name) ON DELETE CASCADE
  );

  -- Enrollments and groups revoked as a whole; never lifted.
  CREATE TABLE enrollment_blocks (
    id_scope TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('individual', 'group')),
    id TEXT NOT NULL COLLATE NOCASE,
    blocked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    blocked_by TEXT NOT NULL,
    PRIMARY KEY (id_scope, kind, id)
  );
  CREATE TRIGGER enrollment_blocks_no_delete BEFORE DELETE ON enrollment_blocks
  BEGIN SELECT RAISE(ABORT, 'an enrollment revocation cannot be undone'); END;

  -- The hub change feed, derived from the issuance log (hub_feed_state holds how far it has read).
  CREATE TABLE hub_changes (
    seq INTEGER PRIMARY KEY,
    id_scope TEXT NOT NULL COLLATE NOCASE,
    hub TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL,
    device_id TEXT,
    registration_id TEXT,
    details TEXT NOT NULL,
    audit_seq INTEGER NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX hub_changes_hub ON hub_changes (id_scope, hub, seq);
  CREATE TABLE hub_device_state (
    id_scope TEXT NOT NULL COLLATE NOCASE,
    registration_id TEXT NOT NULL COLLATE NOCASE,
    hub TEXT NOT NULL,
    device_id TEXT,
    active INTEGER NOT NULL,
    PRIMARY KEY (id_scope, registration_id)
  );
  CREATE TABLE hub_feed_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    audit_seq INTEGER NOT NULL
  );

  -- Lookups of the hub API: a device's certificates (issued at registration, then renewals), a hub's device.
  CREATE INDEX certificates_requester ON certificates (requester COLLATE NOCASE);
  CREATE INDEX certificate_supersessions_new ON certificate_supersessions (new_serial);
  CREATE INDEX dps_registrations_device ON dps_registrations (id_scope, device_id);
  `,
  },
  {
    name: "0006-secret-box",
    sql: `
  -- Salt of the key that seals devices' symmetric keys and hub policy keys (src/store/secret-box.ts).
  CREATE TABLE secret_box (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    salt BLOB NOT NULL
  );
  `,
  },
  {
    name: "0011-log-tree",
    sql: `
  -- The Merkle tree over audit_log (src/store/log-tree-store.ts): complete subtrees of 2^level
  -- leaves; leaf idx is entry seq idx+1. Derived from the entries, extended after they commit.
  CREATE TABLE log_tree (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
  ) WITHOUT ROWID;
  -- The key that signs checkpoints (Ed25519, kept by the key provider like the CA keys).
  CREATE TABLE log_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_ref TEXT NOT NULL,
    spki BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  -- Signed checkpoints (C2SP tlog-checkpoint notes); sizes only grow.
  CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  },
  {
    name: "0012-certificate-scope",
    sql: `
  -- The ID scope a certificate belongs to, so a scoped token sees only its own (README, tokens).
  ALTER TABLE certificates ADD COLUMN scope TEXT;
  -- Certificates issued at a device's registration name it in their requester: dps:<scope>/<id>.
  UPDATE certificates SET scope = substr(requester, 5, instr(substr(requester, 5), '/') - 1)
    WHERE requester LIKE 'dps:%/%';
  -- Renewals stay in their predecessor's scope (one pass per renewal generation is enough for
  -- lineages this migration meets; new renewals inherit the scope when issued).
  UPDATE certificates SET scope = (
      SELECT old.scope FROM certificate_supersessions s JOIN certificates old ON old.serial = s.old_serial
      WHERE s.new_serial = certificates.serial)
    WHERE scope IS NULL AND serial IN (SELECT new_serial FROM certificate_supersessions);
  CREATE INDEX certificates_scope ON certificates (scope COLLATE NOCASE);
  `,
  },
  {
    name: "0013-certificate-keys",
    sql: `
  -- What each certificate's public key is, read once from its DER for the audit checks
  -- (src/store/audit-check-store.ts): derived data, filled in certificate id order after the
  -- certificates commit, so key reuse is one indexed GROUP BY instead of parsing every certificate.
  CREATE TABLE certificate_keys (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    spki_sha256 TEXT,
    algorithm TEXT NOT NULL,
    rsa_bits INTEGER
  );
  CREATE INDEX certificate_keys_spki ON certificate_keys (spki_sha256);
  `,
  },
  {
    name: "0014-operators",
    sql: `
  -- Named people or systems that tokens are minted for (src/store/token-store.ts): the log
  -- names the operator, and disabling one revokes all their tokens in one transaction.
  CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at TEXT,
    disabled_by TEXT
  );
  ALTER TABLE api_tokens ADD COLUMN operator TEXT REFERENCES operators(name);
  CREATE INDEX api_tokens_operator ON api_tokens (operator);
  `,
  },
  {
    name: "0015-operator-totp",
    sql: `
  -- An operator's TOTP (RFC 6238) secret, sealed like the other stored secrets, and the last
  -- time step accepted, so a code is accepted once.
  ALTER TABLE operators ADD COLUMN totp_secret TEXT;
  ALTER TABLE operators ADD COLUMN totp_enrolled_at TEXT;
  ALTER TABLE operators ADD COLUMN totp_last_step BIGINT;
  `,
  },
  {
    name: "0016-log-key-certificates",
    sql: `
  -- The log key certified by each root that has signed it (src/store/log-tree-store.ts).
  CREATE TABLE log_key_certificates (
    root_id TEXT PRIMARY KEY,
    der BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  },
  {
    name: "0019-sas-policy",
    sql: `
  -- Per scope: the lifetime bound and signing key of SAS tokens issued on demand by the device
  -- endpoint, and whether devices may sign hub tokens with their own key (src/store/lifecycle-store.ts).
  CREATE TABLE sas_policies (
    id_scope TEXT PRIMARY KEY COLLATE NOCASE REFERENCES dps_scopes(id_scope) ON DELETE CASCADE,
    max_ttl_seconds INTEGER NOT NULL,
    default_ttl_seconds INTEGER NOT NULL,
    device_keys INTEGER NOT NULL,
    signing_policy TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
  );
  `,
  },
];
