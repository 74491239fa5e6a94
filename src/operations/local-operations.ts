import { LocalCertificateOperations } from "./local-certificate-operations.js";
import { LocalDpsOperations } from "./local-dps-operations.js";
import { LocalLifecycleOperations } from "./local-lifecycle-operations.js";
import { LocalLogOperations } from "./local-log-operations.js";
import { operationsClass } from "./operations.js";

/**
 * Operations on in-process services: `new LocalOperations(services, actor, scope)` acts as
 * `actor` (the CLI user or an API token); a token's `scope` confines it to that ID scope.
 */
export const LocalOperations = operationsClass(
  LocalCertificateOperations,
  LocalDpsOperations,
  LocalLifecycleOperations,
  LocalLogOperations,
);
