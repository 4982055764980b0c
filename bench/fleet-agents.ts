/**
 * Fleet benchmark child: K agents in one process (each its own account, store and connection) with one
 * in-memory relay each. Prints {"event":"ready","ms":…} once all are online; stops on SIGTERM.
 */
import { join } from 'node:path';
import { builtinDevices } from '../devices/index.js';
import { parseAgentConfig } from '../src/config/agent-config.js';
import { silentLogger } from '../src/core/logger.js';
import { type Agent, createAgent } from '../src/agent/agent.js';
import { benchRelay } from './fleet-device.js';

const [service, countText, dir, owner] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countText);
const agents: Agent[] = [];
const started = performance.now();
for (let i = 0; i < count; i++) {
  const config = parseAgentConfig(
    `xmpp: { service: ${service}, domain: localhost, username: fleet${i}, password: fleet-pw, resource: agent }
owners: [${owner}]
store: ${join(dir, `fleet${i}.db`)}
publish: { enabled: false }
devices: [ { id: relay, type: bench_relay } ]`,
    { definitions: [...builtinDevices, benchRelay], env: {} },
  );
  agents.push(createAgent(config, { log: silentLogger() }));
}
// Log in in batches so the server is not handed a thousand SASL exchanges at once.
for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
process.stdout.write(`${JSON.stringify({ event: 'ready', ms: performance.now() - started })}\n`);
process.on('SIGTERM', () => {
  void Promise.all(agents.map((a) => a.stop({ drainMs: 0 }))).finally(() => process.exit(0));
});
