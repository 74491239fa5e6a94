import type { CertificateOperations } from "./certificate-operations.js";
import type { DpsOperations } from "./dps-operations.js";
import { facade } from "./facade.js";
import type { LifecycleOperations } from "./lifecycle-operations.js";
import type { LogOperations } from "./log-operations.js";

/**
 * What an operator can do, as plain JSON-able data. Every command and API route talks to this
 * one interface: in local mode (and in the server) it is backed by the services directly, with
 * --server by the HTTP API, so the same command prints the same output either way. It is
 * written in four parts, each with a local and a remote implementation.
 */
export type Operations = CertificateOperations & DpsOperations & LifecycleOperations & LogOperations;

/** A method in two parts would reach the first part only: the parts must not share a name. */
type SharedNames =
  | (keyof CertificateOperations & keyof DpsOperations)
  | (keyof CertificateOperations & keyof LifecycleOperations)
  | (keyof DpsOperations & keyof LifecycleOperations)
  | (keyof LogOperations & (keyof CertificateOperations | keyof DpsOperations | keyof LifecycleOperations));
type Disjoint<Shared extends never> = Shared;
// Fails to compile, naming the method, when two parts declare the same one.
type PartsAreDisjoint = Disjoint<SharedNames>;

/** The Operations class over one implementation of each part, all built with the same arguments. */
export function operationsClass<A extends unknown[]>(
  certificates: new (...args: A) => CertificateOperations,
  dps: new (...args: A) => DpsOperations,
  lifecycle: new (...args: A) => LifecycleOperations,
  log: new (...args: A) => LogOperations,
): new (...args: A) => Operations {
  return facade(certificates, dps, lifecycle, log) as new (...args: A) => Operations;
}
