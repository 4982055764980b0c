/**
 * The XMPP servers a behaviour suite runs against, one describe per kind (the MQTT.js habit: one suite,
 * every implementation, so the agent cannot drift towards one server's quirks):
 *
 *   describe.each(servers())('XEP-0325 control (%s)', (kind) => { … useAgentFixture({ server: kind, … }) … });
 *
 * A missing server is skipped with the reason printed, or fails the run under CI=true (see requirements.ts).
 * XIOT_TEST_SERVERS=prosody (or ejabberd) narrows the list while working on one of them.
 */
import { describe, it } from 'vitest';
import { SERVER_KINDS, type ServerKind } from '../../src/devtools/xmpp-server.js';
import { requireEjabberd, requireProsody } from './requirements.js';

const available: Record<ServerKind, () => boolean> = {
  prosody: requireProsody,
  ejabberd: requireEjabberd,
};

export function servers(): ServerKind[] {
  const wanted = process.env.XIOT_TEST_SERVERS?.split(',').map((s) => s.trim());
  const kinds = SERVER_KINDS.filter((kind) => (!wanted || wanted.includes(kind)) && available[kind]());
  // `describe.each([])` collects nothing and vitest fails the file: leave a skipped suite instead.
  if (kinds.length === 0)
    describe.skip('against each installed XMPP server (none here: see the warnings printed)', () => {
      it('runs the suite against Prosody and ejabberd', () => undefined);
    });
  return kinds;
}
