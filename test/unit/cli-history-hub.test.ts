import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runHistory } from '../../src/cli/history.js';
import type { StoredReading } from '../../src/hub/history.js';
import { UsageError } from '../../src/operator/usage.js';
import { memoryHistory } from '../helpers/memory-history.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

const reading = (minutesAgo: number, name: string, value: string, nodeId = 'host'): StoredReading => ({
  thing: 'kitchen@example.org',
  nodeId,
  name,
  value,
  type: 'numeric',
  unit: name === 'temp' ? '°C' : '',
  timestamp: NOW - minutesAgo * 60_000,
  flags: ['momentary'],
  qos: [],
});

async function run(args: string[]) {
  const history = memoryHistory();
  await history.insert([
    reading(90, 'temp', '20.5'),
    reading(30, 'temp', '21.0'),
    reading(30, 'load1', '0.50'),
    reading(10, 'temp', '21.5', 'probe'),
  ]);
  const out = sink();
  const err = sink();
  let opened = '';
  let closed = false;
  const code = await runHistory(args, {
    stdout: out.stream,
    stderr: err.stream,
    env: {},
    now: () => NOW,
    openHistory: async (file) => {
      opened = file;
      return { ...history, close: async () => void (closed = true) };
    },
  });
  return { code, stdout: out.text(), stderr: err.text(), opened, closed };
}

describe('xiot history THING --hub', () => {
  it("prints the last hour of a thing from the hub's history, oldest first, and closes the store", async () => {
    const r = await run(['Kitchen@example.org', '--hub', 'hub.yaml']);
    expect(r).toMatchObject({ code: 0, opened: 'hub.yaml', closed: true });
    expect(r.stdout.split('\n')).toEqual([
      'time                      node   field  value  unit',
      '2026-11-24T11:30:00.000Z  host   load1  0.50',
      '2026-11-24T11:30:00.000Z  host   temp   21.0   °C',
      '2026-11-24T11:50:00.000Z  probe  temp   21.5   °C',
      '',
    ]);
  });

  it('filters by field and node, over --since or --from/--to, as CSV or JSON', async () => {
    const csv = await run(['kitchen@example.org', '--hub', 'h', '--field', 'temp', '--since', '2h', '--csv']);
    expect(csv.stdout).toBe(
      'time,node,field,value,unit\n2026-11-24T10:30:00.000Z,host,temp,20.5,°C\n2026-11-24T11:30:00.000Z,host,temp,21.0,°C\n2026-11-24T11:50:00.000Z,probe,temp,21.5,°C\n',
    );
    const json = await run([
      'kitchen@example.org',
      '--hub',
      'h',
      '--node',
      'host',
      '--from',
      '2026-11-24T10:00:00Z',
      '--to',
      '2026-11-24T11:00:00Z',
      '--json',
    ]);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        time: '2026-11-24T10:30:00.000Z',
        node: 'host',
        field: 'temp',
        value: '20.5',
        type: 'numeric',
        unit: '°C',
      },
    ]);
  });

  it('says when the hub has nothing of a thing, and why that may be', async () => {
    const r = await run(['hall@example.org', '--hub', 'h']);
    expect(r.stdout).toContain("is it claimed in the registry or listed in the hub config's things?");
  });

  it.each([
    [['kitchen', '--hub', 'h'], /bare JID/],
    [['kitchen@example.org', '--hub', 'h', '--since', '1h', '--from', '2026-11-24T10:00:00Z'], /not both/],
    [['kitchen@example.org', '--hub', 'h', '--from', 'yesterday'], /--from: expected a date-time/],
    [['kitchen@example.org', '--hub', 'h', '--csv', '--json'], /--csv or --json/],
    [['host', '--config', 'a.yaml', '--field', 'x'], /--field goes with --hub/],
    [['host'], /--config FILE \(an agent\) or --hub FILE/],
  ])('refuses %j with a usage error', async (args, message) => {
    await expect(run(args as string[])).rejects.toThrow(UsageError);
    await expect(run(args as string[])).rejects.toThrow(message as RegExp);
  });
});
