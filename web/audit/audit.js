// The auditor page. It trusts the server for nothing it can check: the checkpoint's signature,
// every shown entry's inclusion proof and the whole log's tree are verified here with WebCrypto,
// by the same rules as tlog/ and src/store/audit-chain.ts on the server (RFC 6962 hashing over
// each entry's canonical JSON, C2SP signed notes with Ed25519). No framework, no inline code: the
// page runs under a Content-Security-Policy with Trusted Types, so text only ever goes in as text.

const TOKEN_KEY = "dpki-audit-token";
const PIN_KEY = "dpki-audit-verifier-key";
const SEEN_KEY = "dpki-audit-seen-checkpoints";
/** Below this many entries the whole log is rebuilt on every load; above, on request. */
const AUTO_CHECK_ENTRIES = 5000;
const PAGE = 50;
const PROOFS_IN_FLIGHT = 4;

const $ = (id) => document.getElementById(id);
const utf8 = new TextEncoder();

/** A check that failed: its message is what the page shows. */
class Failure extends Error {}

/** A problem+json answer, or the server being unreachable. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes, base64, SHA-256

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Strict base64: what does not re-encode to the same text is refused, as the server's parsers do. */
function fromBase64(text, what) {
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new Failure(`${what} is not base64`);
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  if (toBase64(bytes) !== text) throw new Failure(`${what} is not canonical base64`);
  return bytes;
}

function toBase64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);
const leafHash = (entryBytes) => sha256(LEAF, entryBytes);
const nodeHash = (left, right) => sha256(NODE, left, right);

// ---------------------------------------------------------------------------------------------
// The log's entry encoding (src/store/audit-chain.ts)

/** A value with every object's keys sorted, arrays in order: JSON.stringify of it is the canonical form. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

const json = (v) => JSON.stringify(v) ?? "null";

/** The bytes the log hashes for an entry, as served by /v1/audit. */
function canonicalEntry(e) {
  return (
    `["dpki-audit-v1",${json(e.seq)},${json(e.at)},${json(e.actor)},${json(e.action)},${json(e.subject ?? null)},` +
    `${json(e.serial ?? null)},${json(e.profile ?? null)},${json(e.policyHash ?? null)},` +
    `${JSON.stringify(sortKeys(e.details ?? {}))},${json(e.prevHash)}]`
  );
}

// ---------------------------------------------------------------------------------------------
// Signed notes, checkpoints and proofs (tlog/note.ts, tlog/checkpoint.ts, tlog/proof.ts)

const ED25519 = 0x01;
const SIGNATURE_PREFIX = "\u2014 ";

/** A note verifier key `<name>+<hex key id>+base64(0x01 ‖ Ed25519 key)`, its key id checked. */
async function parseVerifierKey(text) {
  const t = text.trim();
  const a = t.indexOf("+");
  const b = t.indexOf("+", a + 1);
  if (a <= 0 || b < 0) throw new Failure("The verifier key is not <name>+<key id>+<key>");
  const name = t.slice(0, a);
  const hexId = t.slice(a + 1, b);
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new Failure("The verifier key's id is not 8 lowercase hex digits");
  const key = fromBase64(t.slice(b + 1), "The verifier key");
  if (key.length !== 33 || key[0] !== ED25519) throw new Failure("The verifier key is not an Ed25519 key");
  const raw = key.subarray(1);
  const digest = await sha256(utf8.encode(name), Uint8Array.of(0x0a, ED25519), raw);
  const keyId = new DataView(digest.buffer).getUint32(0);
  if (keyId !== Number.parseInt(hexId, 16)) throw new Failure("The verifier key's id does not match its name and key");
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    throw new Failure(
      `This browser cannot check Ed25519 signatures with WebCrypto (${err.name}): use a current Chromium, Firefox or Safari`,
    );
  }
  return { name, keyId, key: cryptoKey, text: t };
}

/** The note's text, once the verifier's signature on it checks; a note it did not sign, or altered, is refused. */
async function openNote(note, verifier) {
  if (!note.endsWith("\n")) throw new Failure("Malformed checkpoint note: it must end with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Failure("Malformed checkpoint note: no signatures");
  const text = note.slice(0, split + 1);
  let signed = false;
  for (const line of note.slice(split + 2, -1).split("\n")) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new Failure("Malformed checkpoint note: a signature line must start with an em dash");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space <= 0) throw new Failure("Malformed checkpoint note: a signature line needs a key name and a signature");
    const sig = fromBase64(rest.slice(space + 1), "A checkpoint signature");
    if (sig.length < 5) throw new Failure("Malformed checkpoint note: a signature is too short");
    if (rest.slice(0, space) !== verifier.name || new DataView(sig.buffer).getUint32(0) !== verifier.keyId) continue;
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, sig.subarray(4), utf8.encode(text));
    if (!ok)
      throw new Failure(
        `The checkpoint's signature by ${verifier.name} does not verify: the checkpoint was altered or signed by another key`,
      );
    signed = true;
  }
  if (!signed)
    throw new Failure(`The checkpoint carries no signature of ${verifier.name} with key ${verifier.keyId.toString(16).padStart(8, "0")}`);
  return text;
}

function parseCheckpoint(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Failure("Malformed checkpoint: it needs an origin, a size and a root");
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Failure("Malformed checkpoint: bad size");
  const root = fromBase64(rootText, "The checkpoint root");
  if (root.length !== 32) throw new Failure("Malformed checkpoint: the root is not a SHA-256 hash");
  return { origin, size: Number(sizeText), root };
}

function parseTlogProof(text) {
  const lines = text.split("\n");
  let i = 0;
  if (lines[i++] !== "c2sp.org/tlog-proof@v1") throw new Failure("Not a c2sp.org/tlog-proof@v1 proof");
  if (lines[i]?.startsWith("extra ")) i++;
  const index = /^index (0|[1-9][0-9]*)$/.exec(lines[i++] ?? "");
  if (!index) throw new Failure("Malformed proof: no index line");
  const path = [];
  for (; i < lines.length && lines[i] !== ""; i++) {
    const h = fromBase64(lines[i], "A proof hash");
    if (h.length !== 32) throw new Failure("Malformed proof: a hash is not 32 bytes");
    path.push(h);
  }
  if (lines[i] !== "") throw new Failure("Malformed proof: no checkpoint");
  return { index: Number(index[1]), path, checkpoint: lines.slice(i + 1).join("\n") };
}

// ---------------------------------------------------------------------------------------------
// RFC 9162 Merkle tree

/** §2.1.3.2: does `path` bind `leaf` at `index` to `root` of a tree of `size` leaves? */
async function verifyInclusion(index, size, leaf, path, root) {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameBytes(r, root);
}

/** The root of the tree over these leaf hashes: complete subtrees kept on a stack, then folded from the right. */
async function treeRoot(leaves) {
  if (leaves.length === 0) return sha256();
  const stack = [];
  for (let i = 0; i < leaves.length; i++) {
    let node = leaves[i];
    // Each trailing 1 bit of i (the count of leaves before this one) closes one complete subtree.
    for (let n = i; n % 2 === 1; n = Math.floor(n / 2)) node = await nodeHash(stack.pop(), node);
    stack.push(node);
  }
  let root = stack.pop();
  while (stack.length > 0) root = await nodeHash(stack.pop(), root);
  return root;
}

// ---------------------------------------------------------------------------------------------
// The API

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path) {
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" }, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "unavailable", `The server cannot be reached (${err.message})`);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body?.code ?? "unknown", body?.detail ?? `HTTP ${res.status}`);
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------------
// Page building: elements and text only

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = dv;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setStatus(node, kind, text) {
  node.className = `status ${kind}`;
  node.textContent = text;
}

const alarms = new Set();
let mismatch = false;

/**
 * The banner: every check that failed, so a tampered log cannot go unnoticed further down the
 * page. A mismatch (something served is not what was signed) outranks a log that cannot be checked.
 */
function alarm(text, kind = "mismatch") {
  alarms.add(text);
  mismatch ||= kind === "mismatch";
  const heading =
    kind === "insecure"
      ? "This page needs HTTPS (or localhost)."
      : mismatch
        ? "The log does not match what was signed."
        : "The log cannot be verified.";
  const box = $("alarm");
  box.replaceChildren(el("strong", {}, heading), el("ul", {}, ...[...alarms].map((a) => el("li", {}, a))));
  box.hidden = false;
}

function clearAlarms() {
  alarms.clear();
  mismatch = false;
  $("alarm").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// The checkpoint

/** The latest checkpoint, verified: its note opened with the pinned (or served) key, its body parsed. */
let latest = null;

async function loadCheckpoint() {
  latest = null;
  const served = await api("/v1/audit/checkpoint");
  const pinned = localStorage.getItem(PIN_KEY);
  $("checkpoint-fields").replaceChildren(
    ...field("Origin", served.origin),
    ...field("Entries", String(served.size)),
    ...field("Root (SHA-256)", served.root),
    ...field("Signed", served.createdAt),
    ...field("Key", pinned ? `${pinned} (pinned)` : `${served.verifierKey} (as served by this server)`),
  );
  const status = $("checkpoint-status");
  try {
    const verifier = await parseVerifierKey(pinned ?? served.verifierKey);
    if (pinned && pinned.trim() !== served.verifierKey) {
      throw new Failure(
        "The server now serves another verifier key than the one pinned: its checkpoints are not signed by the key you trust",
      );
    }
    const checkpoint = parseCheckpoint(await openNote(served.note, verifier));
    if (checkpoint.size !== served.size || toBase64(checkpoint.root) !== served.root) {
      throw new Failure("The signed checkpoint says another size or root than the server's summary of it");
    }
    checkSeen(checkpoint);
    latest = { ...checkpoint, verifier };
    setStatus(status, "ok", `Signature verified (Ed25519, ${verifier.name}): the log had ${checkpoint.size} entries with this root.`);
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    setStatus(status, "bad", `FAILED: ${err.message}`);
    alarm(`Checkpoint: ${err.message}`);
  }
}

function field(name, value) {
  return [el("dt", {}, name), el("dd", {}, value)];
}

/**
 * The checkpoints this browser saw of each log: one of the same size with another root is a fork,
 * a smaller one a log cut back. Growth is expected (its consistency is not proven here).
 */
function checkSeen(checkpoint) {
  const seen = JSON.parse(localStorage.getItem(SEEN_KEY) ?? "{}");
  const before = seen[checkpoint.origin];
  const root = toBase64(checkpoint.root);
  if (before && checkpoint.size < before.size) {
    throw new Failure(`The log shrank: this browser saw a checkpoint of ${before.size} entries, the server now signs ${checkpoint.size}`);
  }
  if (before && checkpoint.size === before.size && root !== before.root) {
    throw new Failure(`The log forked: this browser saw another root for ${checkpoint.size} entries`);
  }
  seen[checkpoint.origin] = { size: checkpoint.size, root };
  localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

// ---------------------------------------------------------------------------------------------
// The whole log, rebuilt from its entries

async function checkWholeLog() {
  const status = $("log-status");
  if (!latest) return setStatus(status, "bad", "FAILED: there is no verified checkpoint to check the entries against.");
  const size = latest.size;
  const leaves = [];
  let prevHash = "0".repeat(64);
  let after;
  setStatus(status, "", `Reading ${size} entries…`);
  try {
    while (leaves.length < size) {
      const page = await api(`/v1/audit${query({ order: "oldest", limit: 1000, after })}`);
      for (const entry of page.items) {
        if (leaves.length >= size) break;
        const expected = leaves.length + 1;
        if (entry.seq !== expected) throw new Failure(`Entry ${expected} is missing: the log goes from ${expected - 1} to ${entry.seq}`);
        const bytes = utf8.encode(canonicalEntry(entry));
        if (entry.prevHash !== prevHash) throw new Failure(`Entry ${entry.seq} does not link to entry ${entry.seq - 1}`);
        if (toHex(await sha256(bytes)) !== entry.hash)
          throw new Failure(`Entry ${entry.seq} was altered: its content no longer gives its hash`);
        prevHash = entry.hash;
        leaves.push(await leafHash(bytes));
      }
      if (!page.nextCursor) break;
      after = page.nextCursor;
      setStatus(status, "", `Read ${leaves.length} of ${size} entries…`);
    }
    if (leaves.length < size) throw new Failure(`The log was cut: the checkpoint signed ${size} entries, only ${leaves.length} remain`);
    if (!sameBytes(await treeRoot(leaves), latest.root)) {
      throw new Failure(`The first ${size} entries no longer give the signed root: the log was rewritten`);
    }
    setStatus(status, "ok", `Verified: all ${size} entries, rebuilt here, give the signed root; the hash chain is unbroken.`);
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    setStatus(status, "bad", `FAILED: ${err.message}`);
    alarm(`Whole log: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Entries and their inclusion proofs

let search = {};
let nextCursor = null;

async function loadEntries(more = false) {
  const status = $("entries-status");
  const body = $("entries-table").tBodies[0];
  if (!more) {
    body.replaceChildren();
    nextCursor = null;
  }
  status.textContent = "Searching…";
  const page = await api(`/v1/audit${query({ ...search, limit: PAGE, after: more ? nextCursor : undefined })}`);
  nextCursor = page.nextCursor;
  $("more").hidden = !nextCursor;
  const rows = page.items.map((entry) => {
    const proof = el("td", { class: "proof" }, "checking…");
    body.append(
      el(
        "tr",
        { data: { seq: String(entry.seq) } },
        el("td", {}, String(entry.seq)),
        el("td", {}, entry.at),
        el("td", {}, entry.actor),
        el("td", {}, entry.action),
        el("td", { class: "mono" }, entry.serial ?? "–"),
        el(
          "td",
          {},
          entry.subject ?? "–",
          el("details", {}, el("summary", {}, "details"), el("pre", {}, JSON.stringify(entry.details, null, 2))),
        ),
        proof,
      ),
    );
    return { entry, cell: proof };
  });
  const count = body.rows.length;
  status.textContent = count === 0 ? "No entries match." : `${count} entr${count === 1 ? "y" : "ies"}${nextCursor ? " (more below)" : ""}.`;
  await inBatches(rows, PROOFS_IN_FLIGHT, ({ entry, cell }) => proveShown(entry, cell));
}

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function proveShown(entry, cell) {
  if (!latest || entry.seq > latest.size) {
    cell.className = "proof";
    cell.textContent = latest ? "newer than the checkpoint: reload to prove it" : "not checked: no verified checkpoint";
    return;
  }
  const verdict = await proveEntry(entry).then(
    (text) => ({ ok: true, text }),
    (err) => ({ ok: false, text: err instanceof Failure || err instanceof ApiError ? err.message : String(err) }),
  );
  cell.className = `proof ${verdict.ok ? "ok" : "bad"}`;
  cell.textContent = verdict.ok ? verdict.text : `FAILED: ${verdict.text}`;
  if (!verdict.ok) alarm(`Entry ${entry.seq}: ${verdict.text}`);
}

/** The entry as shown, hashed here, proven by the server's inclusion proof to be under a checkpoint signed by the log key. */
async function proveEntry(entry) {
  let served;
  try {
    served = await api(`/v1/audit/proof${query({ seq: entry.seq })}`);
  } catch (err) {
    if (err instanceof ApiError && err.status !== 0 && err.status !== 401) {
      throw new Failure(`the server cannot prove an entry its checkpoint covers (${err.message})`);
    }
    throw err;
  }
  const proof = parseTlogProof(served.proof);
  if (proof.index !== entry.seq - 1) throw new Failure(`the server proved index ${proof.index} instead`);
  const checkpoint = parseCheckpoint(await openNote(proof.checkpoint, latest.verifier));
  if (checkpoint.origin !== latest.origin) throw new Failure(`proven against another log (${checkpoint.origin})`);
  if (checkpoint.size === latest.size && !sameBytes(checkpoint.root, latest.root)) {
    throw new Failure("proven against a checkpoint of the same size with another root: the log forked");
  }
  const leaf = await leafHash(utf8.encode(canonicalEntry(entry)));
  if (!(await verifyInclusion(proof.index, checkpoint.size, leaf, proof.path, checkpoint.root))) {
    throw new Failure(
      "the entry as served is not the one the log signed: its inclusion proof does not lead to the signed root (the entry or the tree was altered)",
    );
  }
  return checkpoint.size === latest.size ? "verified" : `verified (checkpoint of ${checkpoint.size})`;
}

// ---------------------------------------------------------------------------------------------
// Findings of the audit checks

async function loadFindings() {
  const status = $("findings-status");
  const body = $("findings-table").tBodies[0];
  let report;
  try {
    report = await api("/v1/audit/findings");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    status.textContent = `The findings cannot be shown: ${err.message}`;
    return;
  }
  body.replaceChildren(
    ...report.findings.map((f) =>
      el(
        "tr",
        { class: `severity-${f.severity}`, data: { check: f.check } },
        el("td", {}, f.severity),
        el("td", {}, f.check),
        el("td", {}, f.message),
        el("td", {}, ...f.objects.map(objectButton)),
        el("td", { class: "mono" }, f.entries.join(", ") || "–"),
      ),
    ),
  );
  const found = report.checks.reduce((n, c) => n + c.found, 0);
  const unlisted = report.checks.filter((c) => c.listed < c.found).map((c) => `${c.check}: ${c.found - c.listed} more`);
  status.textContent =
    found === 0
      ? `No findings in ${report.checks.length} checks (${report.checkedAt}).`
      : `${found} finding${found === 1 ? "" : "s"} (${report.checkedAt})${unlisted.length ? `; not listed: ${unlisted.join(", ")}` : ""}.`;
}

/** An object of a finding: a button showing its log entries (a certificate by serial, others by the text naming them). */
function objectButton(o) {
  return el(
    "button",
    {
      type: "button",
      class: "object",
      title: "Show its log entries",
      onclick: () => {
        search = o.type === "certificate" ? { serial: o.id } : { text: o.id };
        $("search-serial").value = search.serial ?? "";
        $("search-action").value = "";
        $("search-text").value = search.text ?? "";
        run(loadEntries());
        $("entries").scrollIntoView();
      },
    },
    `${o.type} ${o.id}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Start, sign in, sign out

/** Runs a part of the page; a lost or refused token sends the user back to the token form. */
async function run(promise) {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403))
      return signOut(err.status === 401 ? `Token refused: ${err.message}` : err.message);
    const message = err instanceof ApiError ? `The server answered: ${err.message}` : `Unexpected error: ${err.message}`;
    $("entries-status").textContent = message;
  }
}

async function openLog() {
  $("login").hidden = true;
  $("app").hidden = false;
  clearAlarms();
  await run(
    (async () => {
      await loadCheckpoint().catch((err) => {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) throw err;
        setStatus($("checkpoint-status"), "bad", `FAILED: the server gives no checkpoint (${err.message})`);
        if (err instanceof ApiError && err.code === "log_damaged") alarm(`The server refuses to sign the log: ${err.message}`);
        else alarm(`No checkpoint to check against: ${err.message}`, "unverifiable");
      });
      await Promise.all([loadEntries(), loadFindings(), !latest || latest.size <= AUTO_CHECK_ENTRIES ? checkWholeLog() : null]);
    })(),
  );
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !reason;
  error.textContent = reason ?? "";
}

function start() {
  if (!window.isSecureContext || !crypto.subtle) {
    alarm("Without a secure context the browser offers no WebCrypto to check the log with.", "insecure");
    return;
  }
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    openLog();
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search = { serial: $("search-serial").value.trim(), action: $("search-action").value.trim(), text: $("search-text").value.trim() };
    run(loadEntries());
  });
  $("more").addEventListener("click", () => run(loadEntries(true)));
  $("check-log").addEventListener("click", () => run(checkWholeLog()));
  $("pin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("pin-key").value.trim();
    parseVerifierKey(key).then(
      () => {
        localStorage.setItem(PIN_KEY, key);
        $("pin-status").textContent = "Pinned.";
        openLog();
      },
      (err) => ($("pin-status").textContent = `Not pinned: ${err.message}`),
    );
  });
  $("unpin").addEventListener("click", () => {
    localStorage.removeItem(PIN_KEY);
    $("pin-status").textContent = "Unpinned: checking against the key the server serves.";
    openLog();
  });
  $("sign-out").addEventListener("click", () => signOut());
  if (token()) openLog();
  else signOut();
}

start();
