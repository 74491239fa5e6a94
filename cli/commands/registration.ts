import { Command, Option } from "commander";
import type { RegistrationView } from "../../src/core/dps/dps-views.js";
import type { RegistrationStatus } from "../../src/store/dps-records.js";
import { formatRecord, formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";
import { scopeOption } from "../dps-options.js";
import { toInt } from "./cert.js";

export function registrationCommand(): Command {
  const registration = new Command("registration").description("Device registrations: which hub each device was assigned to, and how");

  scopeOption(registration.command("list"))
    .description("List registrations, oldest first")
    .addOption(new Option("--status <status>", "filter by status").choices(["assigned", "failed", "disabled"]))
    .option("--hub <hub>", "assigned to this hub (its name or host name)")
    .option("--group <id>", "registered through this enrollment group")
    .option("--limit <n>", "page size (1-1000)", toInt, 100)
    .option("--after <cursor>", "continue from a previous page's cursor")
    .action(
      withContext(async ({ ops, out, scope }, opts) => {
        const page = await ops.registrationList(await scope(), {
          status: opts.status as RegistrationStatus | undefined,
          hub: opts.hub as string | undefined,
          ...(opts.group ? { enrollmentKind: "group" as const, enrollmentId: opts.group as string } : {}),
          limit: opts.limit as number,
          after: opts.after as string | undefined,
        });
        out.print(page, () => registrationTable(page.items) + (page.nextCursor ? `(more: --after ${page.nextCursor})\n` : ""));
      }),
    );

  scopeOption(registration.command("show"))
    .argument("<registration-id>", "the device's registration id")
    .description("Show one device's registration")
    .action(
      withContext(async ({ ops, out, scope }, _opts, id: string) => {
        const r = await ops.registrationGet(await scope(), id);
        out.print(r, () => registrationDetails(r));
      }),
    );

  scopeOption(registration.command("rm"))
    .argument("<registration-id>", "the device's registration id")
    .description("Forget a registration: the device's next registration is an initial assignment")
    .action(
      withContext(async ({ ops, out, scope }, _opts, id: string) => {
        const idScope = await scope();
        await ops.registrationDelete(idScope, id);
        out.print({ deleted: id, idScope }, () => `Deleted registration ${id}\n`);
      }),
    );

  return registration;
}

function registrationTable(items: RegistrationView[]): string {
  return formatTable(items, [
    { header: "registration id", value: (r) => r.registrationId },
    { header: "status", value: (r) => r.status },
    { header: "substatus", value: (r) => r.substatus ?? "-" },
    { header: "hub", value: (r) => r.assignedHub ?? "-" },
    { header: "enrollment", value: (r) => `${r.enrollment.kind}:${r.enrollment.id}` },
    { header: "updated", value: (r) => shortDate(r.updatedAt) },
  ]);
}

function registrationDetails(r: RegistrationView): string {
  const a = r.attestation;
  return formatRecord([
    ["registration id", r.registrationId],
    ["ID scope", r.idScope],
    ["status", r.status],
    ["substatus", r.substatus],
    ["assigned hub", r.assignedHub],
    ["initial hub", r.initialHub],
    ["device id", r.deviceId],
    ["enrollment", `${r.enrollment.kind}:${r.enrollment.id}`],
    [
      "attestation",
      `${a.method}${a.keyIndex !== undefined ? (a.keyIndex === 0 ? " (primary)" : " (secondary)") : ""}${a.renewal ? " (dpki-issued certificate)" : ""}`,
    ],
    ["certificate", a.thumbprint ?? null],
    ["issued serial", r.issuedSerial],
    ["error", r.errorCode !== null ? `${r.errorCode} ${r.errorMessage}` : null],
    ["payload", r.payload !== null ? JSON.stringify(r.payload) : null],
    ["iot edge", r.iotEdge ? "yes" : "no"],
    ["etag", r.etag],
    ["operation", r.operationId],
    ["created", r.createdAt],
    ["updated", r.updatedAt],
  ]);
}
