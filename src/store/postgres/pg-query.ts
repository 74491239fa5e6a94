/** Runs one statement; rows come back as plain objects keyed by column name. */
export type Query = <R = Record<string, unknown>>(text: string, values?: unknown[]) => Promise<R[]>;
