import type { Server } from "node:net";
import { AppError } from "../errors.js";

/** Binds `server`, turning the bind failures an operator can fix into errors that name the address. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(bindError(err, port, host));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

function bindError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch (err.code) {
    case "EADDRINUSE":
      return new AppError("unavailable", `Address ${address} is already in use: stop what listens there or pick another --port`);
    case "EACCES":
      return new AppError("unavailable", `Cannot listen on ${address}: permission denied (ports below 1024 need privileges)`);
    case "EADDRNOTAVAIL":
      return new AppError("unavailable", `Cannot listen on ${address}: no such address on this machine`);
    default:
      return err;
  }
}
