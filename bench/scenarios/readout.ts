/**
 * Readout throughput: N momentary readouts of the same fields, sequential and 16 in flight, measured by the same
 * client against (a) our agent process, (b) the minimal responder (bench/minimal-responder.ts: the agent's two
 * stanzas and nothing else, the ceiling for a readout, issue 12), (c) a slixmpp xep_0323 device with the same
 * fields (Prosody only: it is the same program on either server), (d) XEP-0199 pings to a connected resource
 * (the server's round-trip ceiling). Every baseline runs on the same server in the same run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { silentLogger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { NS } from '../../src/xmpp/ns.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import {
  agentYaml,
  type BenchOptions,
  benchProcRoot,
  cpuMs,
  machineCpuMs,
  median,
  pool,
  serverPid,
  type Row,
  sleep,
  startAgentProcess,
  startJsonChild,
  startSlixmppPeer,
  stopChild,
  benchTransport,
} from '../lib.js';
import type { JsonElement } from '../minimal-responder.js';

const MINIMAL_RESPONDER = fileURLToPath(new URL('../minimal-responder.js', import.meta.url));
const SERVER_NAME = { prosody: 'Prosody', ejabberd: 'ejabberd' } as const;

const toJson = (el: Element): JsonElement => ({
  name: el.name,
  attrs: Object.fromEntries(Object.entries(el.attrs).map(([k, v]) => [k, String(v)])),
  children: el.children.map((c) => (typeof c === 'string' ? c : toJson(c as Element))),
});

export async function readoutScenario(server: XmppServer, dir: string, opts: BenchOptions): Promise<Row[]> {
  const total = opts.smoke ? 30 : 1000;
  const withSlixmpp = server.kind === 'prosody';
  for (const u of ['ragent', 'rslix', 'rclient', 'rmin']) await server.register(u, `${u}-pw`);
  const configPath = join(dir, 'readout-agent.yaml');
  writeFileSync(
    configPath,
    agentYaml({
      service: server.service,
      username: 'ragent',
      owners: ['rclient@localhost'],
      store: join(dir, 'readout.db'),
      publish: false,
      // A throughput measurement: the per-requester rate limit (50/s by default) would measure itself.
      limits: '{ requestRate: 0 }',
      // A momentary readout reads the device fresh: its files come from tmpfs, not from the kernel.
      hardware: benchProcRoot(dir),
      devices: '  - { id: host, type: system, interval: 1h }',
    }),
  );
  const agent = await startAgentProcess(configPath, 'ragent-pw');
  const transport = benchTransport(server, 'rclient');
  const client = createSensorClient({ transport, log: silentLogger() });
  await transport.start();
  // The agent's own `<node/>` (fields and values as sent) for the minimal responder.
  let sampleNode: Element | undefined;
  const capture = (s: Element) => {
    const node = s.is('message') ? s.getChild('fields', NS.sensordata)?.getChild('node') : undefined;
    if (node) sampleNode = node;
  };
  transport.on('stanza', capture);
  const sample = await client.readout('ragent@localhost/agent', { types: ['momentary'] });
  transport.off('stanza', capture);
  if (!sampleNode) throw new Error('the sample readout carried no <node/>');
  const minimal = await startJsonChild(
    process.execPath,
    [MINIMAL_RESPONDER, server.service, 'rmin', 'rmin-pw', 'agent', JSON.stringify(toJson(sampleNode))],
    (e) => e.event === 'ready',
  );
  // The same fields our system device reports, with fixed values, on the slixmpp device.
  const fields = sample.fields.map((f) => [f.name, f.unit ?? '', f.value]);
  const firstField = sample.fields[0]?.name as string;
  const slix = withSlixmpp
    ? await startSlixmppPeer(
        {
          jid: 'rslix@localhost',
          password: 'rslix-pw',
          port: server.c2sPort,
          mode: 'device',
          node: 'host',
          fields,
        },
        (e) => e.event === 'ready',
      )
    : undefined;
  const slixJid = slix?.events.find((e) => e.event === 'ready')?.jid as string;

  const targets: Record<string, (i: number) => Promise<unknown>> = {
    ours: () => client.readout('ragent@localhost/agent', { types: ['momentary'], timeoutMs: 5000 }),
    // The same readout narrowed to one field (XEP-0323 field filter): how the ratio depends on the payload.
    oursOneField: () =>
      client.readout('ragent@localhost/agent', {
        types: ['momentary'],
        fields: [firstField],
        timeoutMs: 5000,
      }),
    minimal: () => client.readout('rmin@localhost/agent', { types: ['momentary'], timeoutMs: 5000 }),
    ...(withSlixmpp
      ? {
          slixmpp: () =>
            client.readout(slixJid, { types: ['momentary'], timeoutMs: opts.smoke ? 1000 : 2000 }),
        }
      : {}),
    ping: () =>
      transport.request(
        xml('iq', { type: 'get', to: 'ragent@localhost/agent' }, xml('ping', { xmlns: NS.ping })),
        5000,
      ),
  };
  const rates: Record<string, { seq: number[]; par: number[]; failures: number }> = {};
  for (const name of Object.keys(targets)) rates[name] = { seq: [], par: [], failures: 0 };
  // Where the time goes with 16 in flight: CPU ms per operation of the server, the responder (the agent, or the
  // minimal responder for its own target) and this client.
  const pids = { server: serverPid(server), agent: agent.child.pid as number, client: process.pid };
  const pidsFor = (name: string) =>
    name === 'minimal' ? { ...pids, agent: minimal.child.pid as number } : pids;
  const cpu: Record<string, Record<keyof typeof pids, number[]>> = {
    ours: { server: [], agent: [], client: [] },
    oursOneField: { server: [], agent: [], client: [] },
    minimal: { server: [], agent: [], client: [] },
    ping: { server: [], agent: [], client: [] },
  };
  // How busy the whole machine was (all cores, %) while 16 were in flight.
  const busy: Record<string, number[]> = { ours: [], oursOneField: [], minimal: [], ping: [] };
  // slixmpp 1.8.3 answers a readout that arrives right after the previous one with `accepted` and never sends
  // its fields (environment.md): sequential readouts of it are spaced by GAP ms, and the gaps are not counted.
  const GAP = 25;
  // Untimed warm-up of every Node target: V8 compiles the hot path and sizes its young generation during the
  // first few hundred readouts, which would otherwise count against whichever target runs first (the agent,
  // whose path is longer than the minimal responder's). A long-running agent is measured warm.
  const warmUp = opts.smoke ? 10 : 500;
  for (const name of ['ours', 'oursOneField', 'minimal'] as const) {
    const run = targets[name] as (i: number) => Promise<unknown>;
    for (let i = 0; i < warmUp; i++) await run(i).catch(() => undefined);
    await pool(
      Array.from({ length: warmUp }, (_, i) => i),
      16,
      (i) =>
        run(i).then(
          () => undefined,
          () => undefined,
        ),
    );
  }
  for (let r = 0; r < opts.repeats; r++) {
    for (const [name, run] of Object.entries(targets)) {
      const stats = rates[name] as { seq: number[]; par: number[]; failures: number };
      const gap = name === 'slixmpp' ? GAP : 0;
      // slixmpp is ~100× slower and drops some readouts (each then costs its timeout): fewer of them.
      const n = name === 'slixmpp' ? Math.min(total, 200) : total;
      let t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await run(i).catch(() => stats.failures++);
        if (gap) await sleep(gap);
      }
      const seqMs = performance.now() - t0 - (gap ? n * (gap + 1) : 0);
      stats.seq.push(n / (seqMs / 1000));
      const c0 = Object.fromEntries(Object.entries(pidsFor(name)).map(([k, pid]) => [k, cpuMs(pid)]));
      const m0 = machineCpuMs();
      t0 = performance.now();
      await pool(
        Array.from({ length: n }, (_, i) => i),
        16,
        (i) =>
          run(i).then(
            () => undefined,
            () => void stats.failures++,
          ),
      );
      stats.par.push(n / ((performance.now() - t0) / 1000));
      for (const [k, pid] of Object.entries(pidsFor(name)))
        cpu[name]?.[k as keyof typeof pids].push((cpuMs(pid) - (c0[k] as number)) / n);
      const m1 = machineCpuMs();
      if (m1.total > m0.total) busy[name]?.push((100 * (m1.busy - m0.busy)) / (m1.total - m0.total));
    }
  }
  await transport.stop();
  if (slix) await stopChild(slix.child);
  await stopChild(minimal.child);
  await stopChild(agent.child);
  const m = (name: string, k: 'seq' | 'par') => median(rates[name]?.[k] ?? []);
  const note = (name: string) =>
    (rates[name]?.failures ?? 0) > 0 ? `${rates[name]?.failures} timed out` : undefined;
  const rows: Row[] = [];
  const BASELINES: Record<string, string> = {
    ping: 'XEP-0199 ping ceiling',
    slixmpp: 'slixmpp 1.8.3 xep_0323',
    minimal: 'minimal responder',
  };
  const rateRow = (name: string, k: 'seq' | 'par', metric: string, vs: string, extra: Partial<Row>): Row => ({
    scenario: 'readout',
    metric,
    ours: m(name, k),
    baseline: BASELINES[vs] as string,
    baselineValue: m(vs, k),
    unit: '/s',
    better: 'higher',
    ...extra,
  });
  const slixNote = note('slixmpp');
  const minimalNote = note('minimal');
  for (const [k, label] of [
    ['seq', 'sequential'],
    ['par', '16 in flight'],
  ] as const) {
    if (withSlixmpp)
      rows.push(
        rateRow('ours', k, `readouts/s, ${label}`, 'slixmpp', {
          target: '≥ 5×',
          ...(slixNote ? { note: `slixmpp: ${slixNote}` } : {}),
        }),
      );
    rows.push(
      rateRow('ours', k, `readouts/s, ${label}`, 'minimal', {
        target: '≥ 0.9×',
        ...(minimalNote ? { note: `minimal responder: ${minimalNote}` } : {}),
      }),
      rateRow('ours', k, `readouts/s, ${label}`, 'ping', { target: '≥ 0.5×' }),
    );
  }
  for (const [k, label] of [
    ['seq', 'sequential'],
    ['par', '16 in flight'],
  ] as const) {
    rows.push(
      rateRow('oursOneField', k, `readouts/s of one field, ${label}`, 'ping', {
        note: `the same readout narrowed to the field ${firstField}: the ratio depends on the payload`,
      }),
    );
  }
  const cpuRow = (metric: string, name: string, k: keyof typeof pids | 'all', note: string): Row => {
    const per = (target: string) => {
      const c = cpu[target];
      if (!c) return 0;
      if (k !== 'all') return median(c[k]);
      // Summed per repeat, then the median: the three processes of one run together.
      return median(c.server.map((v, i) => v + (c.agent[i] ?? 0) + (c.client[i] ?? 0)));
    };
    return {
      scenario: 'readout',
      metric,
      ours: per(name),
      baseline: 'per XEP-0199 ping',
      baselineValue: per('ping'),
      unit: 'ms',
      better: 'lower',
      note,
    };
  };
  for (const [k, label] of [
    ['server', SERVER_NAME[server.kind]],
    ['agent', 'agent (responder)'],
    ['client', 'client'],
  ] as const)
    rows.push(
      cpuRow(`${label} CPU per readout, 16 in flight`, 'ours', k, 'where the time goes: /proc CPU time'),
    );
  for (const [k, label] of [
    ['server', SERVER_NAME[server.kind]],
    ['agent', 'responder'],
  ] as const)
    rows.push({
      ...cpuRow(`${label} CPU per readout, 16 in flight`, 'ours', k, 'the agent against the ceiling'),
      baseline: 'per minimal-responder readout',
      baselineValue: median(cpu.minimal?.[k] ?? []),
    });
  const machine = 'the three processes share the cores of this machine: their sum bounds the rate';
  rows.push(cpuRow('CPU per readout, all three, 16 in flight', 'ours', 'all', machine));
  rows.push(cpuRow('CPU per readout of one field, all three, 16 in flight', 'oursOneField', 'all', machine));
  rows.push({
    scenario: 'readout',
    metric: 'machine busy (all cores), 16 in flight',
    ours: median(busy.ours ?? []),
    baseline: 'during XEP-0199 pings',
    baselineValue: median(busy.ping ?? []),
    unit: '%',
    better: 'lower',
    note: '/proc/stat; includes loopback TCP in softirq, which no process is charged for',
  });
  return rows;
}
