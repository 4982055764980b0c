/** Footprint baseline: a process that only connects with @xmpp/client and stays online. */
import { client } from '@xmpp/client';

const [service, username, password] = process.argv.slice(2);
const xmpp = client({ service, domain: 'localhost', username, password, resource: 'bare' });
xmpp.on('error', () => undefined);
xmpp.on('online', () => process.stdout.write(`${JSON.stringify({ event: 'online' })}\n`));
process.on('SIGTERM', () => void xmpp.stop().finally(() => process.exit(0)));
await xmpp.start();
