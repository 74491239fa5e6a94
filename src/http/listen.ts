import type { Server, Socket } from "node:net";
import type { Server as TlsServer } from "node:tls";
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
      return new AppError("unavailable", `Address ${address} is already in use: stop what listens there or pick another --port`, {
        address,
        reason: "address_in_use",
      });
    case "EACCES":
      return new AppError("unavailable", `Cannot listen on ${address}: permission denied (ports below 1024 need privileges)`);
    case "EADDRNOTAVAIL":
      return new AppError("unavailable", `Cannot listen on ${address}: no such address on this machine`);
    default:
      return err;
  }
}

const TLS_HANDSHAKE = 0x16;
const FIRST_BYTE_WITHIN_MS = 20_000;

/**
 * Answers a plain-HTTP request on a TLS port with a short 400 naming https, as nginx does,
 * instead of the connection reset a failed handshake gives. The first byte decides: a TLS
 * connection always starts with a handshake record, an HTTP request with a method name. Must be
 * called right after the server is created, before other "connection" listeners are added.
 */
export function answerPlainHttp(server: TlsServer): void {
  const tls = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    const drop = () => socket.destroy();
    socket.on("error", drop);
    socket.setTimeout(FIRST_BYTE_WITHIN_MS, drop);
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      socket.off("error", drop);
      if (first[0] !== TLS_HANDSHAKE && isHttpMethodStart(first[0]!)) {
        socket.on("error", drop);
        socket.end(PLAIN_HTTP_ANSWER, () => socket.destroy());
        return;
      }
      // The TLS socket reads what is already buffered before the rest of the stream.
      socket.unshift(first);
      for (const listener of tls) listener.call(server, socket);
    });
  });
}

function isHttpMethodStart(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}

const PLAIN_HTTP_BODY = "400 Bad Request: the plain HTTP request was sent to an HTTPS port. Use https:// instead.\n";
const PLAIN_HTTP_ANSWER =
  "HTTP/1.1 400 Bad Request\r\n" +
  "Content-Type: text/plain; charset=utf-8\r\n" +
  `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_BODY)}\r\n` +
  "Connection: close\r\n\r\n" +
  PLAIN_HTTP_BODY;
