/**
 * The agent's presence `<status>` (RFC 6121 §4.7.2.2): a line a roster shows next to the contact, e.g.
 * "3 devices, all available" or "3 devices, 1 unavailable: door". Re-announced when availability changes, at
 * most once per `minIntervalMs` (a flapping device must not flood every contact with presence).
 */
export function presenceStatusLine(
  devices: Iterable<{ id: string; available: boolean | undefined }>,
): string {
  const all = [...devices];
  const count = `${all.length} device${all.length === 1 ? '' : 's'}`;
  const down = all.filter((d) => d.available === false).map((d) => d.id);
  if (all.length === 0) return 'no devices';
  if (down.length === 0) return `${count}, all available`;
  const names = down.length > 3 ? `${down.slice(0, 3).join(', ')}, …` : down.join(', ');
  return `${count}, ${down.length} unavailable: ${names}`;
}

export function createPresenceStatus(deps: {
  line: () => string;
  /** Sends the presence with this status; called only while `online()`. */
  announce: (status: string) => Promise<void>;
  online: () => boolean;
  minIntervalMs?: number;
  now?: () => number;
}) {
  const minIntervalMs = deps.minIntervalMs ?? 5000;
  const now = deps.now ?? Date.now;
  let lastSentAt = -Infinity;
  let lastSent: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  const send = () => {
    timer = undefined;
    if (!deps.online()) return;
    const line = deps.line();
    if (line === lastSent) return;
    lastSent = line;
    lastSentAt = now();
    void deps.announce(line).catch(() => undefined); // the next change or reconnect sends it again
  };

  return {
    /** The status for the presence sent on (re)connect, which counts as sent. */
    current(): string {
      lastSent = deps.line();
      lastSentAt = now();
      return lastSent;
    },
    /** Availability changed: re-announce now, or when the interval allows. */
    changed(): void {
      if (timer) return;
      const wait = lastSentAt + minIntervalMs - now();
      if (wait <= 0) send();
      else timer = setTimeout(send, wait);
    },
    stop(): void {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
