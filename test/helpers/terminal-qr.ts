/** Reading a QR code drawn in a terminal (src/cli/claim-qr.ts) back into modules, to check what it encodes. */
import QRCode from 'qrcode';

const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Reads a `small` terminal QR code back into its modules (true = dark): each character is two module rows,
 * drawn black on white ('█' both dark, '▀' top, '▄' bottom, ' ' none), with a one-module quiet zone; the last
 * line holds only the bottom quiet zone.
 */
export function readTerminalQr(drawn: string): boolean[][] {
  const lines = drawn.replace(ANSI, '').split('\n').filter(Boolean);
  const rows: boolean[][] = [];
  for (const line of lines.slice(0, -1)) {
    const chars = [...line];
    rows.push(chars.map((c) => c === '█' || c === '▀'));
    rows.push(chars.map((c) => c === '█' || c === '▄'));
  }
  return rows.slice(1).map((r) => r.slice(1, -1));
}

/** The modules of the QR code `qrcode` makes for `text` (its defaults, as the terminal renderer uses them). */
export function qrModules(text: string): boolean[][] {
  const { modules } = QRCode.create(text, {});
  return Array.from({ length: modules.size }, (_, r) =>
    Array.from({ length: modules.size }, (_, c) => Boolean(modules.get(r, c))),
  );
}
