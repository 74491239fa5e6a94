import { operationsClass } from "../../src/operations/operations.js";
import { RemoteCertificateOperations } from "./remote-certificate-operations.js";
import { RemoteDpsOperations } from "./remote-dps-operations.js";
import { RemoteLifecycleOperations } from "./remote-lifecycle-operations.js";
import { RemoteLogOperations } from "./remote-log-operations.js";

/**
 * Operations over the HTTP API of a dpki server: `new RemoteOperations(api)`, every part sharing
 * the one client (and its connections); closing the client is the caller's.
 */
export const RemoteOperations = operationsClass(
  RemoteCertificateOperations,
  RemoteDpsOperations,
  RemoteLifecycleOperations,
  RemoteLogOperations,
);
