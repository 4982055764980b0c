import { xml } from '@xmpp/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { NS_COMMANDS } from '../../src/agent/adhoc.js';
import { REFUSAL } from '../../src/agent/chat.js';
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

  describe('"Set parameter" as Profanity submits it (every field, untouched ones empty)', () => {
    const SET = 'urn:xmpp-iot:command:set';
    const command = (attrs: Record<string, string>, ...children: ReturnType<typeof xml>[]) =>
      fx.owner.transport
        .request(
          xml(
            'iq',
            { type: 'set', to: fx.jid },
            xml('command', { xmlns: NS_COMMANDS, node: SET, ...attrs }, ...children),
          ),
        )
        .then((r) => r.getChild('command', NS_COMMANDS) as ReturnType<typeof xml>);
    /** Opens the relay's control form: { sessionid, fields: var → { label, value } }. */
    const openForm = async () => {
      const choice = await command({ action: 'execute' });
      const sessionid = choice.attrs.sessionid as string;
      const form = await command(
        { sessionid, action: 'next' },
        xml(
          'x',
          { xmlns: NS.dataForms, type: 'submit' },
          xml('field', { var: 'device' }, xml('value', {}, 'relay')),
        ),
      );
      const fields = Object.fromEntries(
        (form.getChild('x', NS.dataForms)?.getChildren('field') ?? []).map((f) => [
          f.attrs.var as string,
          { label: f.attrs.label as string | undefined, value: f.getChildText('value') ?? undefined },
        ]),
      );
      return { sessionid, fields };
    };
    const submit = async (sessionid: string, values: Record<string, string>) => {
      const done = await command(
        { sessionid, action: 'complete' },
        xml(
          'x',
          { xmlns: NS.dataForms, type: 'submit' },
          ...Object.entries(values).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))),
        ),
      );
      return done.getChildText('note');
    };

    it('pre-fills current values and shows ranges in labels', async () => {
      memoryActuatorState.set('relay', { level: 40, setpoint: 21.5, mode: 'manual' });
      const { fields } = await openForm();
      expect(fields.state?.value).toBe('0');
      expect(fields.level).toEqual({ label: 'Dimmer level (0–100)', value: '40' });
      expect(fields.setpoint).toEqual({ label: 'Temperature setpoint (5–30 °C)', value: '21.5' });
      expect(fields.mode?.value).toBe('manual');
    });

    it('applies only the changed field when untouched ones come back empty', async () => {
      const { sessionid, fields } = await openForm();
      const all = Object.fromEntries(Object.keys(fields).map((k) => [k, '']));
      expect(await submit(sessionid, { ...all, FORM_TYPE: NS.control, level: '30' })).toBe(
        'relay: set level',
      );
      expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { level: 30 } }]);
    });

    it('applies only the changed field when untouched ones come back pre-filled, and nothing when none changed', async () => {
      let { sessionid, fields } = await openForm();
      const echoed = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.value ?? '']));
      expect(await submit(sessionid, { ...echoed, setpoint: '22.5' })).toBe('relay: set setpoint');
      expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { setpoint: 22.5 } }]);
      ({ sessionid, fields } = await openForm());
      expect(
        await submit(
          sessionid,
          Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.value ?? ''])),
        ),
      ).toBe('Nothing changed.');
      expect(memoryActuatorWrites).toHaveLength(1);
    });

    it('pre-fills a parameter without a field with the value last set through the form', async () => {
      let { sessionid, fields } = await openForm();
      expect(fields.fade?.value).toBeUndefined();
      expect(await submit(sessionid, { fade: 'PT2S' })).toBe('relay: set fade');
      ({ sessionid, fields } = await openForm());
      expect(fields.fade?.value).toBe('PT2S');
      await command({ sessionid, action: 'cancel' });
    });
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
