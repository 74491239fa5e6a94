/** JSON Schema for policies/profiles.yaml; unknown keys are refused so a typo never loosens a rule. */
export const PROFILES_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["profiles"],
  properties: {
    profiles: {
      type: "object",
      minProperties: 1,
      propertyNames: { pattern: "^[a-z][a-z0-9-]{0,62}$" },
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["description", "keyAlgorithms", "validity", "subject", "subjectAltNames", "keyUsage", "extendedKeyUsage"],
        properties: {
          description: { type: "string", minLength: 1 },
          keyAlgorithms: {
            type: "array",
            minItems: 1,
            uniqueItems: true,
            items: { enum: ["P-256", "P-384", "RSA", "Ed25519"] },
          },
          minRsaBits: { type: "integer", minimum: 2048 },
          validity: {
            type: "object",
            additionalProperties: false,
            required: ["default", "max"],
            properties: {
              default: { type: "string", pattern: "^\\d+[smhdy]$" },
              max: { type: "string", pattern: "^\\d+[smhdy]$" },
            },
          },
          subject: {
            type: "object",
            additionalProperties: false,
            required: ["commonName", "allowed"],
            properties: {
              commonName: {
                type: "object",
                additionalProperties: false,
                required: ["required"],
                properties: { required: { type: "boolean" }, pattern: { type: "string", format: "regex" } },
              },
              allowed: {
                type: "array",
                uniqueItems: true,
                items: { enum: ["CN", "O", "OU", "L", "ST", "C", "serialNumber", "emailAddress", "DC", "UID"] },
              },
            },
          },
          subjectAltNames: {
            type: "object",
            additionalProperties: false,
            required: ["allowed"],
            properties: {
              allowed: { type: "array", uniqueItems: true, items: { enum: ["dns", "ip", "uri", "email"] } },
              required: { type: "boolean" },
            },
          },
          keyUsage: {
            type: "array",
            minItems: 1,
            uniqueItems: true,
            items: { enum: ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement"] },
          },
          extendedKeyUsage: {
            type: "array",
            uniqueItems: true,
            items: { enum: ["serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping"] },
          },
        },
      },
    },
  },
} as const;
