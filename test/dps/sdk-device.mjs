// Registers one device with the official Azure IoT device SDK packages, unchanged, and prints
// the outcome as one JSON line. Spawned by the DPS tests with NODE_EXTRA_CA_CERTS set, which
// must happen before Node's TLS stack loads (so not inside the test worker).
// Input: one JSON argument {host, idScope, registrationId, symmetricKey? | cert?+key?, payload?}.
import provisioning from "azure-iot-provisioning-device";
import http from "azure-iot-provisioning-device-http";
import symmetric from "azure-iot-security-symmetric-key";
import x509 from "azure-iot-security-x509";

const input = JSON.parse(process.argv[2]);
const security = input.symmetricKey
  ? new symmetric.SymmetricKeySecurityClient(input.registrationId, input.symmetricKey)
  : new x509.X509Security(input.registrationId, { cert: input.cert, key: input.key });
const client = provisioning.ProvisioningDeviceClient.create(input.host, input.idScope, new http.Http(), security);
if (input.payload !== undefined) client.setProvisioningPayload(input.payload);

const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ ok: false, name: "TestTimeout", message: "no answer within 20 s" }) + "\n");
  process.exit(2);
}, 20_000);

client.register((err, result) => {
  clearTimeout(timer);
  const out = err
    ? { ok: false, name: err.name, message: err.message, status: err.response?.statusCode, result: err.result }
    : { ok: true, result };
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
});
