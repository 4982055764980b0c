import { xml } from '@xmpp/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { NS_COMMANDS } from '../../src/xmpp/adhoc.js';
import { REFUSAL } from '../../src/xmpp/chat.js';
import { NS } from '../../src/xmpp/ns.js';
import { type TestClient, waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { hallWithActuators, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

describe.each(servers())('operators: ad-hoc commands and chat commands (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    accounts: ['hall', 'alice', 'bob', 'mallory'],
    clients: { owner: { username: 'alice' }, stranger: { username: 'mallory' } },
    agent: hallWithActuators,
  });

  beforeEach(() => {
    memoryActuatorState.clear();
    memoryActuatorWrites.length = 0;
  });

  const chat = async (client: TestClient, line: string) => {
    const before = client.transport.bareJid;
    const replies: string[] = [];
    const onStanza = (s: ReturnType<typeof xml>) => {
      if (s.is('message') && String(s.attrs.from).startsWith('hall@') && s.getChildText('body'))
        replies.push(s.getChildText('body') as string);
    };
    client.transport.on('stanza', onStanza);
    await client.transport.send(xml('message', { to: fx.jid, type: 'chat' }, xml('body', {}, line)));
    const reply = await waitFor(`a reply to "${line}" for ${before}`, () => replies[0]);
    client.transport.off('stanza', onStanza);
    return reply;
  };

  it('answers chat commands of an owner: read, set, list, status, and help for unknown input', async () => {
    expect(await chat(fx.owner, 'read host load1')).toMatch(/^host at .*\nload1 = \d+(\.\d+)?$/);
    expect(await chat(fx.owner, 'set relay state on')).toBe('relay: state set to true');
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
    expect(await chat(fx.owner, 'list')).toMatch(/relay \(memory_actuator, available\).*set: state/);
    expect(await chat(fx.owner, 'status')).toMatch(/online as hall@localhost\/agent[\s\S]*relay: available/);
    expect(await chat(fx.owner, 'make coffee')).toMatch(/did not understand[\s\S]*read DEVICE \[FIELD\]/);
    expect(await chat(fx.owner, 'set relay level 900')).toMatch(/^Not set: .*level: must be at most 100/);
    expect(await chat(fx.owner, 'read nope')).toMatch(/No device "nope"/);
  });

  it("refuses a stranger's chat commands politely and changes nothing", async () => {
    expect(await chat(fx.stranger, 'set relay state on')).toBe(REFUSAL);
    expect(memoryActuatorWrites).toEqual([]);
  });

  it('lists commands to owners only, and refuses a stranger running one', async () => {
    const list = (c: TestClient) =>
      c.transport.request(
        xml('iq', { type: 'get', to: fx.jid }, xml('query', { xmlns: NS.discoItems, node: NS_COMMANDS })),
      );
    const names = (await list(fx.owner))
      .getChild('query')
      ?.getChildren('item')
      .map((i) => i.attrs.name);
    expect(names).toEqual(['Agent status', 'List devices', 'Read device', 'Set parameter']);
    expect((await list(fx.stranger)).getChild('query')?.getChildren('item')).toEqual([]);
    await expect(
      fx.stranger.transport.request(
        xml(
          'iq',
          { type: 'set', to: fx.jid },
          xml('command', { xmlns: NS_COMMANDS, node: 'urn:xmpp-iot:command:status', action: 'execute' }),
        ),
      ),
    ).rejects.toMatchObject({ condition: 'forbidden' });
  });

  describe.skipIf(!requireSlixmpp())(
    "with slixmpp's xep_0050 and chat, standing in for Gajim and Conversations",
    () => {
      const slix = (args: Partial<Parameters<typeof runSlixmpp>[0]>) =>
        runSlixmpp({
          jid: 'bob@localhost',
          password: 'bob-pw',
          port: fx.server.c2sPort,
          action: 'adhoc',
          target: fx.jid,
          ...args,
        });

      it('lists the commands and runs "Read device" through its form', async () => {
        const r = await slix({ command: 'Read device', steps: [{ device: 'host', field: 'uptime' }] });
        expect(r.commands?.sort()).toEqual(['Agent status', 'List devices', 'Read device', 'Set parameter']);
        expect(r.steps?.[0]?.fields.device?.options).toEqual(['relay', 'lamp', 'host']);
        const done = r.steps?.at(-1);
        expect(done?.status).toBe('completed');
        expect(done?.notes[0]?.[1]).toMatch(/^host at .*\nuptime = \d+ s$/);
      });

      it('runs "Set parameter" through the device choice and the control form; the actuator changes', async () => {
        const r = await slix({ command: 'Set parameter', steps: [{ device: 'relay' }, { state: '1' }] });
        const [choose, form, done] = r.steps ?? [];
        expect(choose?.actions).toContain('next');
        expect(form?.fields.state?.type).toBe('boolean');
        expect(form?.fields.level?.type).toBe('text-single');
        expect(done).toMatchObject({ status: 'completed', notes: [['info', 'relay: set state']] });
        expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
      });

      it('gets correct chat replies to "read host load1" and "set relay state on"', async () => {
        const r = await runSlixmpp({
          jid: 'bob@localhost',
          password: 'bob-pw',
          port: fx.server.c2sPort,
          action: 'chat',
          target: 'hall@localhost',
          lines: ['read host load1', 'set relay state on'],
        });
        expect(r.replies?.[0]).toMatch(/load1 = /);
        expect(r.replies?.[1]).toBe('relay: state set to true');
        expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
      });
    },
  );
});
