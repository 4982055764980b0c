/**
 * `xiot agent`: the agent, its local status socket, and SIGHUP reloads (`systemctl reload`). A reload re-reads
 * the config; an invalid one is refused with its errors and the running agent kept. Device changes apply in
 * place with the connection kept; any other change restarts the agent (src/runtime/reload.ts says why).
 */
import type { AgentConfig } from '../config/agent-config.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type Agent, createAgent } from '../agent/agent.js';
import { relaxHeapAfterStart } from '../agent/heap.js';
import { loadAgentConfig } from '../agent/load-config.js';
import { planReload } from '../agent/reload.js';
import { startLocalStatus } from './status.js';

export interface SupervisedAgent {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads the config file; never throws (outcomes are logged). */
  reload(): Promise<'refused' | 'unchanged' | 'devices' | 'restarted'>;
}

export function superviseAgent(
  configPath: string,
  initial: AgentConfig,
  log: Logger,
  env: Record<string, string | undefined>,
  /** Shows the claim code when the agent registers unclaimed (the QR code on a terminal). */
  onClaimCode?: (code: { text: string; uri: string }) => void,
): SupervisedAgent {
  let config = initial;
  const deps = { log, ...(onClaimCode ? { onClaimCode } : {}) };
  let agent: Agent = createAgent(config, deps);
  let localStatus: { close(): Promise<void> } | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const startAll = async () => {
    localStatus = await startLocalStatus(config.store, () => agent.status(), log);
    await agent.start();
    relaxHeapAfterStart();
  };

  async function reloadNow(): Promise<'refused' | 'unchanged' | 'devices' | 'restarted'> {
    let next: AgentConfig;
    try {
      next = loadAgentConfig(configPath, env);
    } catch (err) {
      const issues =
        err instanceof ConfigError ? err.issues.map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}`) : [];
      log.error(
        { issues: issues.length ? issues : [errorMessage(err)] },
        'reload refused: the new configuration is invalid; the running one is kept',
      );
      return 'refused';
    }
    const plan = planReload(config, next);
    if (!plan.restartBecause.length) {
      if (!plan.added.length && !plan.removed.length && !plan.changed.length) {
        log.info({}, 'reload: no device changed');
        config = next;
        return 'unchanged';
      }
      await agent.reloadDevices(next);
      config = next;
      return 'devices';
    }
    log.warn({ changed: plan.restartBecause }, 'reload: restarting the agent (connection included)');
    await localStatus?.close();
    await agent.stop();
    config = next;
    agent = createAgent(config, deps);
    // Not awaited: start resolves when online, which may take a while; reloads must not wait for it.
    void startAll().catch((err) => log.error({ err: errorMessage(err) }, 'agent failed after reload'));
    return 'restarted';
  }

  return {
    start: startAll,
    async stop() {
      await queue.catch(() => undefined);
      await localStatus?.close();
      await agent.stop();
    },
    reload() {
      const next = queue.then(reloadNow, reloadNow);
      queue = next.catch(() => undefined);
      return next.catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'reload failed');
        return 'refused' as const;
      });
    },
  };
}
