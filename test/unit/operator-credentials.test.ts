import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOperatorCredentials } from '../../src/operator/credentials.js';
import { tempDir } from '../helpers/agent.js';

const dir = tempDir();
afterAll(() => dir.remove());

const file = (name: string, text: string) => {
  const path = `${dir.path}/${name}`;
  writeFileSync(path, text);
  return path;
};

describe('the agents an operator uses', () => {
  it('come from agents: in the operator file and from XIOT_AGENTS', () => {
    const operator = file('ok.yaml', 'jid: alice@example.org\npassword: pw\nagents: [hall@example.org]\n');
    const creds = loadOperatorCredentials(
      { operator },
      { XIOT_AGENTS: 'kitchen@example.org, door@example.org' },
    );
    expect(creds.agents).toEqual(['hall@example.org', 'kitchen@example.org', 'door@example.org']);
  });

  it('are none unless configured', () => {
    expect(
      loadOperatorCredentials(
        { jid: 'alice@example.org' },
        { XIOT_PASSWORD: 'pw', XDG_CONFIG_HOME: dir.path },
      ).agents,
    ).toEqual([]);
  });

  it('must be bare JIDs: the error names the entry', () => {
    const operator = file(
      'bad.yaml',
      'jid: alice@example.org\npassword: pw\nagents: [hall@example.org/agent]\n',
    );
    expect(() => loadOperatorCredentials({ operator }, {})).toThrow(/agents\[0\].*bare JID/s);
  });
});
