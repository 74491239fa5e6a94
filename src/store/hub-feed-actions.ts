/** Log actions that can change what a hub should know; the hub change feed skips every other entry (each engine's feed reads this list). */
export const FEED_ACTIONS_LIST = [
  "dps.register",
  "dps.registration.delete",
  "dps.enrollment.update",
  "dps.enrollment.delete",
  "dps.group.update",
  "dps.group.delete",
  "dps.scope.delete",
  "dps.hub.update",
  "dps.hub.delete",
  "enrollment.revoke",
  "cert.revoke",
  "key.rotate",
] as const;

export const FEED_ACTIONS: ReadonlySet<string> = new Set(FEED_ACTIONS_LIST);
