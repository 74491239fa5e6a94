/**
 * The auditor page in a real browser: Debian's headless Chromium driven by playwright-core
 * against `dpki serve` in its own process. The page must verify the checkpoint, the whole log
 * and a certificate's inclusion proof itself — and say so plainly once the database is edited
 * behind the server's back (an entry's details rewritten, a tree node changed, leaf hashes deleted).
 */
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const work = tempDir();
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "audit page test" };

let server: ChildProcess;
let base: string;
let browser: Browser;
let page: Page;
let auditor: string;
let serial: string;
let twin: string;
/** Console errors, CSP and Trusted Types violations among them: the page must run without any (refused requests aside). */
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  expect(dpki(["init"], { env }).status).toBe(0);
  const csr = opensslCsr(work, "dev-1", { subject: "/CN=page-device-1" });
  const twinCsr = join(work, "dev-2.csr");
  expect(openssl(["req", "-new", "-key", join(work, "dev-1.key"), "-subj", "/CN=page-device-2", "-out", twinCsr]).status).toBe(0);
  const [one, two, token] = await Promise.all(
    [
      ["cert", "issue", "--csr", csr, "--profile", "device"],
      ["cert", "issue", "--csr", twinCsr, "--profile", "device"],
      ["token", "create", "--role", "auditor", "--name", "page-auditor"],
    ].map((args) => dpkiAsync([...args, "--json"], { env })),
  );
  for (const r of [one, two, token]) expect(r!.status, r!.stderr).toBe(0);
  serial = JSON.parse(one!.stdout).serial;
  twin = JSON.parse(two!.stdout).serial;
  auditor = JSON.parse(token!.stdout).secret;

  const port = await freePort();
  server = spawn(process.execPath, [BIN, "serve", "--port", String(port), "--no-http"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((ready, fail) => {
    let err = "";
    server.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("stop:")) ready();
    });
    server.once("exit", () => fail(new Error(`server exited: ${err}`)));
  });
  base = `https://127.0.0.1:${port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  // dpki serves its self-issued certificate; the browser has no dpki root to trust it by.
  page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  page.on("console", (m) => {
    // Chromium logs every 4xx fetch as "Failed to load resource": the tests provoke some.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(e.message));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

const text = (selector: string) => page.locator(selector).innerText();

/** The proof cell of each shown entry once the page has checked it, by entry number. */
async function proofs(): Promise<Record<string, string>> {
  await page.waitForFunction(() => [...document.querySelectorAll("td.proof")].every((c) => c.textContent !== "checking…"));
  const rows = await page
    .locator("#entries-table tbody tr")
    .evaluateAll((trs) => trs.map((tr) => [(tr as HTMLElement).dataset.seq!, tr.querySelector("td.proof")!.textContent!]));
  return Object.fromEntries(rows);
}

async function searchSerial(s: string): Promise<Record<string, string>> {
  await page.fill("#search-serial", s);
  await page.click("#search-form button");
  await page.waitForFunction(() => !/Searching/.test(document.getElementById("entries-status")!.textContent!));
  return proofs();
}

async function reload(): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => /^(Verified|FAILED)/.test(document.getElementById("log-status")!.textContent!));
}

function db<T>(fn: (d: Database.Database) => T): T {
  const d = new Database(join(env.DPKI_HOME, "dpki.db"));
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

it.skipIf(!HAS_CHROMIUM)(
  HAS_CHROMIUM
    ? "verifies the checkpoint, the log and a certificate's proof in the browser"
    : `skipped: no ${CHROMIUM} (apt-get install chromium)`,
  async () => {
    const response = await page.goto(`${base}/audit`);
    expect(response!.headers()["content-security-policy"]).toMatch(/default-src 'none'; script-src 'self'/);
    await page.fill("#token", "dpki_0000000000000000_not-a-token");
    await page.click("#login-form button");
    await expect.poll(() => text("#login-error")).toMatch(/Token refused/);

    await page.fill("#token", auditor);
    await page.click("#login-form button");
    await page.waitForFunction(() => /^(Verified|FAILED)/.test(document.getElementById("log-status")!.textContent!));
    expect(await text("#checkpoint-status")).toMatch(/^Signature verified \(Ed25519, .*\/dpki-log\): the log had \d+ entries/);
    expect(await text("#log-status")).toMatch(/^Verified: all \d+ entries, rebuilt here, give the signed root/);
    expect(await page.locator("#alarm").isHidden()).toBe(true);

    const shown = await searchSerial(serial);
    expect(Object.values(shown)).toEqual(["verified"]);
    await expect.poll(() => text("#findings-table tbody")).toMatch(/shared-key\s+2 good certificates share one public key/);
    expect(consoleErrors).toEqual([]);
  },
);

it.skipIf(!HAS_CHROMIUM)(
  HAS_CHROMIUM
    ? "says the log was tampered with once an entry is rewritten, a tree node changed or leaf hashes deleted"
    : `skipped: no ${CHROMIUM}`,
  async () => {
    // An entry's details edited in the database: the signed tree no longer covers what is served.
    const [issued] = await searchSerial(serial).then(Object.keys);
    const original = db(
      (d) => (d.prepare("SELECT details FROM audit_log WHERE seq = ?").get(Number(issued)) as { details: string }).details,
    );
    db((d) =>
      d
        .prepare("UPDATE audit_log SET details = ? WHERE seq = ?")
        .run(JSON.stringify({ ...JSON.parse(original), notAfter: "2099-01-01T00:00:00.000Z" }), Number(issued)),
    );
    await reload();
    expect(await text("#log-status")).toBe(`FAILED: Entry ${issued} was altered: its content no longer gives its hash`);
    expect(await searchSerial(serial)).toEqual({
      [issued!]: expect.stringMatching(/^FAILED: the entry as served is not the one the log signed/),
    });
    expect(await text("#alarm")).toMatch(/^The log does not match what was signed\./);
    expect(await text("#checkpoint-status")).toMatch(/^Signature verified/);

    // Put back, the page shows it whole again; then a node of the tree overwritten: the other certificate's proof no longer leads to the root.
    db((d) => d.prepare("UPDATE audit_log SET details = ? WHERE seq = ?").run(original, Number(issued)));
    await reload();
    expect(await text("#log-status")).toMatch(/^Verified/);
    expect(Object.values(await searchSerial(serial))).toEqual(["verified"]);
    const [other] = await searchSerial(twin).then(Object.keys);
    const sibling = (Number(other) - 1) ^ 1;
    db((d) => d.prepare("UPDATE log_tree SET hash = zeroblob(32) WHERE level = 0 AND idx = ?").run(sibling));
    await reload();
    expect(await text("#log-status")).toMatch(/^Verified/); // the entries themselves are intact
    expect(await searchSerial(twin)).toEqual({
      [other!]: expect.stringMatching(/^FAILED: the entry as served is not the one the log signed/),
    });
    expect(await text("#alarm")).toMatch(new RegExp(`^The log does not match what was signed\\.[\\s\\S]*Entry ${other}: `));

    // The first leaf hash deleted: the entry beside it can no longer be proven.
    db((d) => d.prepare("DELETE FROM log_tree WHERE level = 0 AND idx = 0").run());
    await reload();
    await page.fill("#search-serial", "");
    await page.fill("#search-action", "ca.create");
    await page.click("#search-form button");
    await page.waitForFunction(() => !/Searching/.test(document.getElementById("entries-status")!.textContent!));
    expect((await proofs())["2"]).toMatch(/^FAILED: the server cannot prove an entry its checkpoint covers/);
    expect(await text("#alarm")).toMatch(/Entry 2: the server cannot prove/);

    // The last two leaf hashes deleted: the server can no longer give a checkpoint (rebuilding them
    // collides with what is left), and the page can verify nothing.
    db((d) => d.prepare("DELETE FROM log_tree WHERE level = 0 AND idx >= (SELECT max(idx) - 1 FROM log_tree WHERE level = 0)").run());
    await reload();
    expect(await text("#checkpoint-status")).toMatch(/^FAILED: the server gives no checkpoint/);
    expect(await text("#log-status")).toMatch(/^FAILED: there is no verified checkpoint/);
    expect(await text("#alarm")).toMatch(/^The log cannot be verified\./);
    expect(Object.values(await proofs())).toEqual(expect.arrayContaining(["not checked: no verified checkpoint"]));
    expect(consoleErrors).toEqual([]);
  },
);
