// The text of anything thrown: an Error's message, else the value as a string. One home, so every
// log line and error reply words a thrown value the same way.
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
