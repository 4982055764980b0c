import { describe, expect, it } from 'vitest';
import { formatClaimCode, renderClaimQr } from '../../src/cli/claim-qr.js';
import { qrModules, readTerminalQr } from '../helpers/terminal-qr.js';

const uri = 'iotdisco:MAN=xmpp-iot.org;MODEL=xiot-agent;SN=Ab12;KEY=s3cr3t\\;x;R=hub@example.org';

describe('the claim code QR code', () => {
  it('encodes the iotdisco: URI: the drawn modules are those of its QR code', async () => {
    const drawn = await renderClaimQr(uri);
    const read = readTerminalQr(drawn);
    expect(read).toEqual(qrModules(uri));
    // A different code draws differently (the test can fail).
    expect(readTerminalQr(await renderClaimQr(`${uri}x`))).not.toEqual(read);
  });

  it('prints the text and the URI on their own lines, then the QR code only when asked', async () => {
    const code = { text: 'IoTDisco;SN:Ab12;KEY:k', uri };
    expect(await formatClaimCode(code, { qr: false })).toBe(`${code.text}\n${uri}\n`);
    const shown = await formatClaimCode(code, { qr: true });
    expect(shown.startsWith(`${code.text}\n${uri}\n\n`)).toBe(true);
    expect(shown).toContain(await renderClaimQr(uri));
  });
});
