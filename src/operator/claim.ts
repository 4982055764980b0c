/** `xiot claim`: become the owner of a thing with its XEP-0347 claim code. */
import { xml } from '@xmpp/client';
import { errorMessage } from '../core/errors.js';
import { type ClaimCode, NS_DISCOVERY, parseClaimCode, tagElements } from '../iot/discovery.js';
import { connect, duration, help, type Io, parse } from './session.js';
import { EXIT, UsageError } from './usage.js';
import { findAccountAddress } from '../xmpp/peer-address.js';

/** `xiot claim CODE`: XEP-0347 `mine` with the code's tags; the registry answers with the thing's JID. */
export async function cmdClaim(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { registry: { type: 'string' }, private: { type: 'boolean' } });
  if (values.help) return help(io, 'claim');
  if (positionals.length !== 1) throw new UsageError('claim needs one CODE (xiot claim --help)');
  let code: ClaimCode;
  try {
    code = parseClaimCode(positionals[0] as string);
  } catch (err) {
    throw new UsageError(`claim: ${errorMessage(err)}`);
  }
  const registry = values.registry ?? code.registry;
  if (!registry) throw new UsageError('claim: the code names no registry: add --registry JID');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    const answer = await session.transport.request(
      xml(
        'iq',
        { type: 'set', to: await findAccountAddress(session.transport, registry, timeoutMs) },
        xml(
          'mine',
          { xmlns: NS_DISCOVERY, ...(values.private ? { public: 'false' } : {}) },
          ...tagElements(code.tags),
        ),
      ),
      timeoutMs,
    );
    const thing = answer.getChild('claimed', NS_DISCOVERY)?.attrs.jid as string | undefined;
    if (values.json) io.stdout.write(`${JSON.stringify({ claimed: thing ?? null, registry })}\n`);
    else io.stdout.write(`claimed ${thing ?? '(the registry did not say which thing)'}: you are its owner\n`);
    return EXIT.ok;
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    if (condition === 'item-not-found') {
      io.stderr.write(`xiot: ${registry} knows no unclaimed thing with this code\n`);
      return EXIT.failed;
    }
    throw err;
  } finally {
    await session.close();
  }
}
