/**
 * The claim code as a QR code for a terminal (issue 15): what a phone scans is the `iotdisco:` URI, which also
 * names the registry, so `xiot claim` needs nothing else. The QR is drawn with ANSI colours and half blocks: it
 * goes to a terminal only, never into a log (a JSON log line stays one line; journald gets the text form from
 * the log). `qrcode` is loaded on first use: an agent that is never unclaimed on a terminal does not pay for it.
 */
export interface ClaimCodeText {
  text: string;
  uri: string;
}

/** The QR code of `uri` as terminal text (two modules per character row). */
export async function renderClaimQr(uri: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(uri, { type: 'terminal', small: true });
}

/** The claim code as people read it: both forms, then the QR code of the URI when `qr`. */
export async function formatClaimCode(code: ClaimCodeText, options: { qr: boolean }): Promise<string> {
  const text = `${code.text}\n${code.uri}\n`;
  return options.qr ? `${text}\n${await renderClaimQr(code.uri)}\n` : text;
}
