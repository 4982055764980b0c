import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { RegistrationError, registerAccount } from '../../src/xmpp/register.js';
import { startClient } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

describe.skipIf(!requireProsody())(
  'XEP-0077 in-band registration of the agent account (real Prosody)',
  () => {
    let open: ProsodyServer;
    let closed: ProsodyServer;
    beforeAll(async () => {
      [open, closed] = await Promise.all([startProsody({ inBandRegistration: true }), startProsody()]);
    });
    afterAll(async () => {
      await Promise.all([open?.stop(), closed?.stop()]);
    });

    it('creates an account another client can log in with', async () => {
      await registerAccount({
        service: open.service,
        domain: 'localhost',
        username: 'garden',
        password: 'pw-garden-1',
      });
      const c = await startClient(open, 'garden', 'pw-garden-1');
      expect(c.transport.jid).toMatch(/^garden@localhost\//);
      await c.stop();
    });

    it('says the account exists when the username is taken', async () => {
      await open.register('taken', 'x');
      const err = await registerAccount({
        service: open.service,
        domain: 'localhost',
        username: 'taken',
        password: 'other',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistrationError);
      expect((err as RegistrationError).reason).toBe('conflict');
      expect((err as Error).message).toMatch(/^taken@localhost already exists/);
    });

    it('names the admin command to use when the server does not allow registration', async () => {
      const err = await registerAccount({
        service: closed.service,
        domain: 'localhost',
        username: 'garden',
        password: 'pw',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistrationError);
      expect((err as RegistrationError).reason).toBe('not-allowed');
      expect((err as Error).message).toContain('localhost does not allow in-band registration (XEP-0077');
      expect((err as Error).message).toContain('prosodyctl adduser garden@localhost');
    });

    it('says when the server cannot be reached', async () => {
      const err = await registerAccount({
        service: 'xmpp://127.0.0.1:1',
        domain: 'localhost',
        username: 'garden',
        password: 'pw',
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe('cannot reach xmpp://127.0.0.1:1: ECONNREFUSED');
    });
  },
);
