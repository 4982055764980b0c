import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import {
  fieldElement,
  fieldsElement,
  nodeElement,
  parseDateTime,
  parseFields,
  parseReadoutRequest,
} from '../../src/iot/sensordata.js';
import { oneOfEachType } from '../helpers/fields.js';

describe('XEP-0323 encoding', () => {
  it('encodes all ten value types with their required attributes', () => {
    const at = new Date('2026-03-01T10:15:00.000Z');
    const fields = oneOfEachType(at);
    const out = fields.map((f) => fieldElement(f).toString());
    expect(out).toEqual([
      `<numeric name="T" momentary="true" automaticReadout="true" value="21.50" unit="°C"/>`,
      `<numeric name="N" momentary="true" automaticReadout="true" value="3" unit=""/>`,
      `<int name="I" momentary="true" automaticReadout="true" value="-7"/>`,
      `<long name="L" momentary="true" automaticReadout="true" value="9007199254740993"/>`,
      `<boolean name="B" momentary="true" automaticReadout="true" value="false"/>`,
      `<string name="S" momentary="true" automaticReadout="true" value="ok"/>`,
      `<enum name="E" momentary="true" automaticReadout="true" value="High" dataType="Level"/>`,
      `<date name="D" momentary="true" automaticReadout="true" value="2026-03-01"/>`,
      `<time name="Ti" momentary="true" automaticReadout="true" value="10:15:00.000Z"/>`,
      `<dateTime name="DT" momentary="true" automaticReadout="true" value="2026-03-01T10:15:00.000Z"/>`,
      `<duration name="Du" momentary="true" automaticReadout="true" value="PT1H2M5S"/>`,
    ]);
  });

  it('round-trips through the client parser, flags and QoS included', () => {
    const el = fieldsElement(3, true, [
      nodeElement('n1', [
        {
          timestamp: 0,
          fields: [
            {
              name: 'x',
              type: 'int',
              value: 1,
              flags: ['status', 'historicalDay'],
              qos: ['warning'],
              writable: true,
            },
          ],
        },
      ]),
    ]);
    expect(parseFields(el)).toEqual([
      {
        nodeId: 'n1',
        timestamp: 0,
        name: 'x',
        type: 'int',
        value: '1',
        flags: ['status', 'historicalDay'],
        qos: ['warning'],
        writable: true,
      },
    ]);
  });

  it('accepts the legacy timeSpan element and the identification alias', () => {
    const el = xml(
      'fields',
      { seqnr: '1' },
      xml(
        'node',
        { nodeId: 'a' },
        xml(
          'timestamp',
          { value: '2026-01-01T00:00:00Z' },
          xml('timeSpan', { name: 'up', value: 'PT1S', identification: 'true' }),
          xml('mystery', { name: 'm', value: '1' }),
        ),
      ),
    );
    const [f, ...rest] = parseFields(el);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ type: 'duration', flags: ['identity'] });
  });
});

describe('XEP-0323 request parsing', () => {
  it('parses flags, shorthands, nodes, fields and times', () => {
    const req = xml(
      'req',
      { seqnr: '41', all: 'true', from: '2026-01-01T00:00:00Z', when: '2026-01-01T00:00:00' },
      xml('node', { nodeId: 'gpio17' }),
      xml('field', { name: 'Temperature' }),
    );
    const r = parseReadoutRequest(req);
    expect(r.seqnr).toBe(41);
    expect(r.types.size).toBe(14);
    expect(r.nodes).toEqual([{ nodeId: 'gpio17' }]);
    expect(r.fieldNames).toEqual(['Temperature']);
    expect(r.from).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(r.when).toBe(new Date(2026, 0, 1).getTime()); // naive = local time, as slixmpp sends
  });

  it('rejects a bad seqnr, a node without id, a bad boolean and a reversed window', () => {
    expect(() => parseReadoutRequest(xml('req', { seqnr: '99999999999' }))).toThrow(/seqnr/);
    expect(() => parseReadoutRequest(xml('req', { seqnr: '1' }, xml('node', {})))).toThrow(/nodeId/);
    expect(() => parseReadoutRequest(xml('req', { seqnr: '1', momentary: 'yes' }))).toThrow(/boolean/);
    expect(() =>
      parseReadoutRequest(
        xml('req', { seqnr: '1', from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }),
      ),
    ).toThrow(/after/);
  });

  it('parses timestamps with and without zone', () => {
    expect(parseDateTime('2026-01-01T00:00:00+02:00')).toBe(Date.parse('2025-12-31T22:00:00Z'));
    expect(parseDateTime('yesterday')).toBeUndefined();
  });
});
