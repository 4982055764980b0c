/** `xiot disown`: give up a thing you own (XEP-0347 disown). */
import { xml } from '@xmpp/client';
import { NS_DISCOVERY } from '../iot/discovery.js';
import { bareOf } from '../xmpp/jid.js';
import { connect, duration, help, type Io, parse } from './session.js';
import { registryOf } from './things.js';
import { EXIT, UsageError } from './usage.js';
import { findAccountAddress } from '../xmpp/peer-address.js';

/** `xiot disown JID`: XEP-0347 disown; the thing drops you as its owner and registers again, unclaimed. */
export async function cmdDisown(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { registry: { type: 'string' } });
  if (values.help) return help(io, 'disown');
  if (positionals.length !== 1) throw new UsageError('disown needs one JID (xiot disown --help)');
  const jid = bareOf(positionals[0] as string);
  const registry = registryOf(values, io, 'disown');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    await session.transport.request(
      xml(
        'iq',
        { type: 'set', to: await findAccountAddress(session.transport, registry, timeoutMs) },
        xml('disown', { xmlns: NS_DISCOVERY, jid }),
      ),
      timeoutMs,
    );
    io.stdout.write(`disowned ${jid}: it registers again, unclaimed, with a new claim code\n`);
    return EXIT.ok;
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    if (condition === 'item-not-found') {
      io.stderr.write(`xiot: ${registry} knows no thing ${jid} of yours\n`);
      return EXIT.failed;
    }
    if (condition === 'not-allowed') {
      io.stderr.write(`xiot: ${jid} did not acknowledge (offline?): it is still yours\n`);
      return EXIT.failed;
    }
    throw err;
  } finally {
    await session.close();
  }
}
