import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { readFileSync } from "node:fs";

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function openssl(args: string[], input?: string | Buffer): RunResult {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export type CsrKey = "ec-p256" | "ec-p384" | "ec-p521" | "rsa-1024" | "rsa-2048" | "ed25519";

const NEWKEY: Record<CsrKey, string[]> = {
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "ec-p521": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
  "rsa-1024": ["-newkey", "rsa:1024"],
  "rsa-2048": ["-newkey", "rsa:2048"],
  ed25519: ["-newkey", "ed25519"],
};

/** Makes a CSR with `openssl req` (a tool no one here wrote); returns the PEM path. */
export function opensslCsr(dir: string, name: string, opts: { key?: CsrKey; subject: string; addext?: string[] }): string {
  const csr = join(dir, `${name}.csr`);
  const key = join(dir, `${name}.key`);
  const args = ["req", "-new", ...NEWKEY[opts.key ?? "ec-p256"], "-nodes", "-keyout", key, "-subj", opts.subject, "-out", csr];
  for (const ext of opts.addext ?? []) args.push("-addext", ext);
  const r = openssl(args);
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return csr;
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/** Splits a PEM bundle into its blocks. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN [^-]+-----[\s\S]+?-----END [^-]+-----\n?/g) ?? [];
}
