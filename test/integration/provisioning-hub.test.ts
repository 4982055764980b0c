import { existsSync, writeFileSync } from 'node:fs';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { loadHubConfig } from '../../src/config/hub-config.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { NS_PROVISIONING } from '../../src/iot/provisioning.js';
import { NS_COMMANDS } from '../../src/xmpp/adhoc.js';
import { NS } from '../../src/xmpp/ns.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { CLI, operatorEnv, runToExit } from '../helpers/cli.js';
import { captureLogger, type LogEntry } from '../helpers/log-capture.js';
import { servers } from '../helpers/servers.js';
import { validateStanza } from '../helpers/xsd.js';

const REGISTRY = 'registry.localhost';
const SECRET = 'registry-secret';
const HUB_CMD = 'urn:xmpp-iot:hub:';

/**
 * The issue-15 acceptance for the provisioning server: an agent claimed through the hub, strangers asking for
 * readouts, the owner deciding by the hub's ad-hoc commands and by `xiot rules`, and what survives restarts.
 */
describe.each(servers())('XEP-0324: the hub decides for its owners (%s)', (kind) => {
  const dir = tempDir();
  let server: XmppServer;
  let hub: Hub | undefined;
  let agent: Agent | undefined;
  let agentLog = captureLogger('info');
  const clients: Record<string, TestClient> = {};
  /** Chat messages the hub sent to alice. */
  const chats: string[] = [];

  const hubYaml = () => `${dir.path}/hub.yaml`;
  const startHub = async () => {
    const h = createHub(loadHubConfig(hubYaml(), { SECRET }), { log: testLogger() });
    await h.start();
    return h;
  };
  /** What the hub sent the agent in urn:xmpp:iot:provisioning: its answers and notices, checked against the XSD. */
  const fromHub: Element[] = [];
  const recordFromHub = (a: Agent) => {
    a.transport.on('stanza', (s: Element) => {
      const from = (s.attrs.from as string | undefined) ?? '';
      if (
        from.split('/')[0] === REGISTRY &&
        s.getChildElements().some((c) => c.attrs.xmlns === NS_PROVISIONING)
      )
        fromHub.push(s);
    });
    return a;
  };
  const startHall = (log = agentLog.log) =>
    startAgent(
      agentConfig(server, {
        username: 'hall',
        password: 'hall-pw',
        owners: [],
        store: `${dir.path}/hall.db`,
        extraYaml: `registry: ${REGISTRY}`,
        devicesYaml: '  - { id: host, type: system, interval: 1h }',
      }),
      log,
    ).then(recordFromHub);
  const xiot = (user: string, ...args: string[]) =>
    runToExit(process.execPath, [CLI, ...args], operatorEnv(server, dir.path, user));
  const client = (name: string) => clients[name] as TestClient;
  const hall = () => agent?.transport.jid as string;
  const read = (who: string) =>
    client(who).sensors.readout(hall(), { types: ['momentary'], timeoutMs: 15_000 });
  const fieldNames = async (who: string) => [...new Set((await read(who)).fields.map((f) => f.name))].sort();
  const logged = (entries: LogEntry[], msg: string) => entries.filter((e) => e.msg === msg).length;
  const cacheClears = () => logged(agentLog.entries, 'provisioning cache cleared');

  const command = (node: string, attrs: Record<string, string> = {}, ...children: Element[]) =>
    client('alice').transport.request(
      xml(
        'iq',
        { type: 'set', to: REGISTRY },
        xml('command', { xmlns: NS_COMMANDS, node: HUB_CMD + node, ...attrs }, ...children),
      ),
    );
  const submit = (node: string, values: Record<string, string[]>) =>
    xml(
      'x',
      { xmlns: NS.dataForms, type: 'submit' },
      xml('field', { var: 'FORM_TYPE' }, xml('value', {}, HUB_CMD + node)),
      ...Object.entries(values).map(([k, vs]) =>
        xml('field', { var: k }, ...vs.map((v) => xml('value', {}, v))),
      ),
    );
  /** Runs a one-form hub command to completion; resolves with the note's text. */
  const runCommand = async (node: string, values: Record<string, string[]>) => {
    const first = (await command(node, { action: 'execute' })).getChild('command', NS_COMMANDS) as Element;
    expect(first.attrs.status).toBe('executing');
    const done = (
      await command(
        node,
        { action: 'complete', sessionid: first.attrs.sessionid as string },
        submit(node, values),
      )
    ).getChild('command', NS_COMMANDS) as Element;
    expect(done.attrs.status).toBe('completed');
    return { form: first.getChild('x', NS.dataForms) as Element, note: done.getChildText('note') ?? '' };
  };
  const pendingFor = async (requester: string, what = 'read') => {
    const first = (await command('pending', { action: 'execute' })).getChild(
      'command',
      NS_COMMANDS,
    ) as Element;
    const options = first
      .getChild('x', NS.dataForms)
      ?.getChildren('field')
      .find((f) => f.attrs.var === 'request')
      ?.getChildren('option');
    const option = options?.find((o) =>
      String(o.attrs.label).includes(`${requester}@localhost asks to ${what}`),
    );
    expect(option, `a pending request of ${requester}`).toBeDefined();
    return { sessionid: first.attrs.sessionid as string, id: option?.getChildText('value') as string };
  };
  const answerPending = async (requester: string, values: Record<string, string[]>) => {
    const { sessionid, id } = await pendingFor(requester);
    const done = (
      await command(
        'pending',
        { action: 'complete', sessionid },
        submit('pending', { request: [id], ...values }),
      )
    ).getChild('command', NS_COMMANDS) as Element;
    return done.getChildText('note') ?? '';
  };
  const presencesFrom = (who: string, type: string) =>
    client(who).presences.filter(
      (p) => p.attrs.type === type && String(p.attrs.from).startsWith('hall@localhost'),
    );

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startServer(kind, {
      components: [{ name: REGISTRY, secret: SECRET }],
      accounts: ['hall', 'alice', 'guest', 'bob', 'carol'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    // askTimeout 1s: the owner never answers that fast here, so every first question is denied for now.
    writeFileSync(
      hubYaml(),
      `xmpp:
  component: { service: "xmpp://127.0.0.1:${server.componentPort}", domain: ${REGISTRY}, secret: "\${SECRET}" }
store: hub.db
provisioning: { askTimeout: 1s, pendingFor: 1h }
`,
    );
    hub = await startHub();
    agent = await startHall();
    clients.alice = await startClient(server, 'alice', 'alice-pw', { approve: ['hall@localhost'] });
    client('alice').transport.on('stanza', (s: Element) => {
      if (s.is('message') && s.attrs.from === REGISTRY && s.getChildText('body'))
        chats.push(s.getChildText('body') as string);
    });
    clients.guest = await startClient(server, 'guest', 'guest-pw');
    // bob approves the agent's subscription request (a friend recommended by the hub).
    clients.bob = await startClient(server, 'bob', 'bob-pw', { approve: ['hall@localhost'] });
    clients.carol = await startClient(server, 'carol', 'carol-pw');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    for (const c of Object.values(clients)) await c.stop();
    await hub?.stop();
    await server?.stop();
    dir.remove();
  });

  it('advertises urn:xmpp:iot:provisioning and its commands', async () => {
    const info = await client('guest').transport.request(
      xml('iq', { type: 'get', to: REGISTRY }, xml('query', { xmlns: NS.discoInfo })),
    );
    const features = info
      .getChild('query')
      ?.getChildren('feature')
      .map((f) => f.attrs.var);
    expect(features).toEqual(expect.arrayContaining([NS_PROVISIONING, NS_COMMANDS]));
    const items = await client('alice').transport.request(
      xml('iq', { type: 'get', to: REGISTRY }, xml('query', { xmlns: NS.discoItems, node: NS_COMMANDS })),
    );
    expect(
      items
        .getChild('query')
        ?.getChildren('item')
        .map((i) => i.attrs.name),
    ).toEqual([
      'Pending requests',
      'List rules',
      'Add a rule',
      'Remove a rule',
      'My things',
      'Claim a thing',
    ]);
  });

  it('answers only things claimed here, and refuses malformed questions with a text', async () => {
    const ask = (payload: Element) =>
      client('guest').transport.request(xml('iq', { type: 'get', to: REGISTRY }, payload));
    const answer = await ask(
      xml('canRead', { xmlns: NS_PROVISIONING, jid: 'bob@localhost', momentary: 'true' }),
    );
    expect(answer.getChild('canReadResponse', NS_PROVISIONING)?.attrs).toMatchObject({
      jid: 'bob@localhost',
      result: 'false',
      momentary: 'true',
    });
    await expect(ask(xml('isFriend', { xmlns: NS_PROVISIONING }))).rejects.toMatchObject({
      condition: 'bad-request',
      message: expect.stringContaining('isFriend needs jid'),
    });
    await expect(
      ask(xml('canControl', { xmlns: NS_PROVISIONING, jid: 'bob@localhost' }, xml('parameter', {}))),
    ).rejects.toMatchObject({ condition: 'bad-request' });
  });

  it('claims the agent with the hub command "Claim a thing"; the agent then asks the hub about strangers', async () => {
    await waitFor('hall registered', () => hub?.store.getThing('hall@localhost'));
    const code = agent?.claimCode() as { text: string };
    const { note } = await runCommand('claim', { code: [code.text], public: ['true'] });
    expect(note).toBe('Claimed hall@localhost: you are its owner.');
    await waitFor('the agent adopted the hub', () =>
      agentLog.entries.find((e) => e.msg === 'the registry that claimed us is our provisioning server'),
    );
    const things = (await command('things', { action: 'execute' })).getChild('command', NS_COMMANDS);
    expect(things?.getChildText('note')).toMatch(
      /^hall@localhost: MAN=xmpp-iot\.org MODEL=xiot-agent SN=\S+$/,
    );
    // The owner reads, and is never asked about.
    expect((await fieldNames('alice')).length).toBeGreaterThan(3);
  });

  it('a stranger is refused while the owner has not decided; the owner gets a chat message saying how to answer', async () => {
    await expect(read('guest')).rejects.toMatchObject({ condition: 'forbidden' });
    const chat = await waitFor('the chat message to alice', () =>
      chats.find((c) => c.includes('guest@localhost')),
    );
    expect(chat).toMatch(
      /^guest@localhost asks to read hall@localhost \(everything\)\. Request #\d+: answer with the "Pending requests" command of registry\.localhost/,
    );
    expect(chat).toContain('xiot rules allow hall@localhost guest@localhost --read --hub registry.localhost');
    // Asking again does not message the owner again: the agent cached the deny.
    await expect(read('guest')).rejects.toMatchObject({ condition: 'forbidden' });
    expect(chats.filter((c) => c.includes('guest@localhost'))).toHaveLength(1);
  });

  it('the owner approves always, for one field, with the ad-hoc command: the stranger reads only that field', async () => {
    const before = cacheClears();
    const note = await answerPending('guest', { decision: ['always'], names: ['load1'] });
    expect(note).toMatch(/^Rule #\d+: allow guest@localhost to read hall@localhost \(only fields load1\)\.$/);
    await waitFor('clearCache at the agent', () => cacheClears() > before);
    expect(await fieldNames('guest')).toEqual(['load1']);
    // Nothing is pending any more.
    const pending = (await command('pending', { action: 'execute' })).getChild('command', NS_COMMANDS);
    expect(pending?.attrs.status).toBe('completed');
    expect(pending?.getChildText('note')).toBe('No pending requests.');
  });

  it("only the owner changes a thing's rules", async () => {
    const out = await xiot('guest', 'rules', 'allow', 'hall@localhost', 'guest@localhost', '--hub', REGISTRY);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('you own no thing hall@localhost here');
    const list = await xiot('guest', 'rules', 'list', '--hub', REGISTRY, '--json');
    expect(JSON.parse(list.stdout)).toEqual({ rules: [] });
  });

  it('keeps rules and cached decisions across restarts of the hub and the agent', async () => {
    await agent?.stop({ drainMs: 0 });
    await hub?.stop();
    hub = undefined;
    // The hub is down: the agent answers from the decision it cached.
    agentLog = captureLogger('info');
    agent = await startHall();
    expect(await fieldNames('guest')).toEqual(['load1']);
    hub = await startHub();
    const list = await xiot('alice', 'rules', 'list', '--hub', REGISTRY, '--json');
    expect(list.stderr).toBe('');
    expect(JSON.parse(list.stdout)).toEqual({
      rules: [
        {
          id: expect.any(Number),
          owner: 'alice@localhost',
          thing: 'hall@localhost',
          requester: 'guest@localhost',
          action: 'read',
          allow: true,
          names: ['load1'],
        },
      ],
    });
  });

  it("xiot rules deny: the hub clears the agent's cache and the stranger is refused again (without asking the owner)", async () => {
    await waitFor('the agent online', () => agent?.transport.online);
    const before = cacheClears();
    const out = await xiot(
      'alice',
      'rules',
      'deny',
      'hall@localhost',
      'guest@localhost',
      '--read',
      '--hub',
      REGISTRY,
    );
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^rule #\d+: deny guest@localhost to read hall@localhost\n$/);
    await waitFor('clearCache at the agent', () => cacheClears() > before);
    const chatsBefore = chats.length;
    await expect(read('guest')).rejects.toMatchObject({ condition: 'forbidden' });
    expect(chats.length).toBe(chatsBefore);
  });

  it('xiot rules allow answers a pending request: the hub recommends the friendship, and deny unfriends', async () => {
    await expect(read('bob')).rejects.toMatchObject({ condition: 'forbidden' });
    await waitFor('the chat message about bob', () =>
      chats.find((c) => c.includes('bob@localhost asks to read')),
    );
    const out = await xiot('alice', 'rules', 'allow', 'hall@localhost', 'bob@localhost', '--hub', REGISTRY);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^rule #\d+: allow bob@localhost to read hall@localhost\n$/);
    // `friend` from the hub: the agent checks isFriend and asks for bob's presence (bob's client approves).
    await waitFor('the agent befriends bob', () => presencesFrom('bob', 'subscribe').length > 0);
    expect((await fieldNames('bob')).length).toBeGreaterThan(3);
    const denied = await xiot('alice', 'rules', 'deny', 'hall@localhost', 'bob@localhost', '--hub', REGISTRY);
    expect(denied.stdout).toMatch(
      /^rule #\d+: deny bob@localhost to read hall@localhost\nrule #\d+: deny bob@localhost to control hall@localhost\n$/,
    );
    // `unfriend` from the hub: the agent drops the friendship (unsubscribed + unsubscribe to bob).
    await waitFor('the agent unfriends bob', () =>
      agentLog.entries.find(
        (e) => e.msg === "unfriended on the provisioning server's request" && e.jid === 'bob@localhost',
      ),
    );
    await expect(read('bob')).rejects.toMatchObject({ condition: 'forbidden' });
  });

  it('a subscription request from a stranger: the agent asks isFriend, the owner approves, the agent befriends', async () => {
    await client('carol').transport.send(xml('presence', { type: 'subscribe', to: 'hall@localhost' }));
    await waitFor("the chat message about carol's friendship", () =>
      chats.find((c) => c.startsWith('carol@localhost asks to become a friend of hall@localhost')),
    );
    // The owner did not answer within askTimeout: the agent was told no for now (it refuses the subscription).
    await waitFor(
      'the deny for now',
      () => hub?.store.findPending('hall@localhost', 'carol@localhost', 'friend')?.answered,
    );
    const { sessionid, id } = await pendingFor('carol', 'become a friend of');
    const done = (
      await command(
        'pending',
        { action: 'complete', sessionid },
        submit('pending', { request: [id], decision: ['always'] }),
      )
    ).getChild('command', NS_COMMANDS);
    expect(done?.getChildText('note')).toMatch(/^Rule #\d+: allow carol@localhost to read hall@localhost\.$/);
    // `friend` from the hub: the agent asks for carol's presence in turn; carol may read everything.
    await waitFor(
      'the agent asks carol for friendship',
      () => presencesFrom('carol', 'subscribe').length > 0,
    );
    expect((await fieldNames('carol')).length).toBeGreaterThan(3);
    const list = await xiot('alice', 'rules', 'list', '--hub', REGISTRY, '--json');
    const rule = (JSON.parse(list.stdout) as { rules: { id: number; requester: string }[] }).rules.find(
      (r) => r.requester === 'carol@localhost',
    );
    const out = await xiot('alice', 'rules', 'remove', String(rule?.id), '--hub', REGISTRY);
    expect(out.stdout).toBe(`removed rule #${rule?.id}\n`);
    await waitFor('the agent unfriends carol', () =>
      agentLog.entries.find(
        (e) => e.msg === "unfriended on the provisioning server's request" && e.jid === 'carol@localhost',
      ),
    );
  });

  it('approve once: one readout, then the owner is asked again', async () => {
    await expect(read('carol')).rejects.toMatchObject({ condition: 'forbidden' });
    await waitFor('the chat message about carol', () =>
      chats.find((c) => c.includes('carol@localhost asks to read')),
    );
    const before = cacheClears();
    expect(await answerPending('carol', { decision: ['once'] })).toMatch(/^Request #\d+ approved once\.$/);
    await waitFor('clearCache at the agent', () => cacheClears() > before);
    expect((await fieldNames('carol')).length).toBeGreaterThan(3);
    // The hub clears the agent's cache again after that answer: the next readout is a new question.
    await waitFor('clearCache after the once', () => cacheClears() > before + 1);
    await expect(read('carol')).rejects.toMatchObject({ condition: 'forbidden' });
    await waitFor('a second chat message about carol', () =>
      chats.filter((c) => c.includes('carol@localhost asks to read')).length === 2 ? true : undefined,
    );
  });
  it('disowned, the agent stops asking the hub and forgets the decisions it cached', async () => {
    const key = 'read|carol@localhost|momentary|||{}'; // denied last, in the test before
    expect(agent?.store.getDecision(key)).toBe(JSON.stringify({ allowed: false }));
    const out = await xiot('alice', 'disown', 'hall@localhost', '--registry', REGISTRY);
    expect(out.stderr).toBe('');
    await waitFor('the agent forgets the hub', () =>
      agentLog.entries.find((e) => e.msg === 'no longer asking this provisioning server'),
    );
    expect(agent?.store.getMeta('registry.provisions')).toBe('');
    expect(agent?.store.getDecision(key)).toBeUndefined();
  });

  it("every provisioning answer and notice the hub sent is valid against XEP-0324's schema", async () => {
    const kinds = new Set(fromHub.flatMap((s) => s.getChildElements().map((c) => c.name)));
    // The flows above drew each kind at least once.
    for (const kind of ['isFriendResponse', 'canReadResponse', 'clearCache', 'friend', 'unfriend'])
      expect([...kinds], kind).toContain(kind);
    for (const stanza of fromHub) expect(await validateStanza(stanza), stanza.toString()).toEqual([]);
  });
});

describe('xiot rules usage', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const run = (...args: string[]) =>
    runToExit(process.execPath, [CLI, ...args], {
      ...process.env,
      XDG_CONFIG_HOME: dir.path,
      XIOT_JID: 'a@localhost',
      XIOT_PASSWORD: 'x',
      XIOT_HUB: '',
      XIOT_REGISTRY: '',
    });

  it('prints its help, and is listed in xiot --help', async () => {
    expect((await run('--help')).stdout).toContain('xiot rules list|allow|deny');
    const help = await run('rules', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('xiot rules allow --tag NAME=VALUE REQUESTER');
    expect((await run('rules', 'allow', '--help')).stdout).toContain('--parameter P');
    expect((await run('hub', '--help')).stdout).toContain('askTimeout');
  });

  it.each([
    [['rules', 'grant'], 'unknown subcommand "grant"'],
    [['rules', 'allow', 'hall@localhost', '--hub', 'r.localhost'], 'expected THING REQUESTER'],
    [
      ['rules', 'deny', 'hall@localhost', 'guest@localhost', '--field', 'x', '--hub', 'r.localhost'],
      'narrow an allow',
    ],
    [['rules', 'allow', '--tag', 'KEY=1', 'guest@localhost', '--hub', 'r.localhost'], 'KEY is a secret'],
    [
      ['rules', 'allow', 'hall@localhost', 'guest@localhost', '--parameter', 'x', '--hub', 'r.localhost'],
      '--parameter narrows --control',
    ],
    [['rules', 'list'], '--hub JID'],
    [['rules', 'remove', 'x', '--hub', 'r.localhost'], 'one rule number'],
  ])('refuses %j with exit 2 and a text naming the fix', async (args, text) => {
    const out = await run(...args);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(text);
  });
});
