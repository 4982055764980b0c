"""A slixmpp 1.8.3 XEP-0323/0325 device for interop tests of our client module.

Run with /usr/bin/python3 (Debian's slixmpp). One JSON argument: {"jid", "password", "host", "port", "timeoutMs"}.
Prints one JSON line per event on stdout: {"event": "ready", "jid": FULL_JID} once online, then
{"event": "set", "name": ..., "value": ...} for every control change. Exits on stdin EOF or timeout.
"""
import asyncio
import json
import logging
import sys

from slixmpp import ClientXMPP
from slixmpp.plugins.xep_0323.device import Device as SensorDevice
from slixmpp.plugins.xep_0325.device import Device as ControlDevice


def emit(obj):
    print(json.dumps(obj), flush=True)


class Relay(SensorDevice):
    """Sensor side: a temperature and the relay state (kept in sync with the control side)."""

    def __init__(self, node_id):
        SensorDevice.__init__(self, node_id)
        self._add_field(name='Temperature', typename='numeric', unit='°C')
        self._add_field(name='Output', typename='boolean')
        self.output = False

    def refresh(self, fields):
        self._add_field_momentary_data('Temperature', '21.5', flags={'automaticReadout': 'true'})
        self._add_field_momentary_data('Output', 'true' if self.output else 'false', flags={'automaticReadout': 'true'})


class RelayControl(ControlDevice):
    def __init__(self, node_id, sensor):
        ControlDevice.__init__(self, node_id)
        self.sensor = sensor
        self._add_control_field(name='Output', typename='boolean', value='false')

    def _set_field_value(self, name, value):
        ControlDevice._set_field_value(self, name, value)
        if name == 'Output':
            self.sensor.output = str(value).lower() in ('true', '1')
        emit({'event': 'set', 'name': name, 'value': str(value)})


class DeviceClient(ClientXMPP):
    def __init__(self, args):
        ClientXMPP.__init__(self, args['jid'], args['password'])
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0323')
        self.register_plugin('xep_0325')
        self.sensor = Relay('relay')
        self.control = RelayControl('relay', self.sensor)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('failed_all_auth', lambda _e: emit({'event': 'error', 'error': 'authentication failed'}))

    async def on_session_start(self, _event):
        self.sensor.refresh([])
        self['xep_0323'].register_node(nodeId='relay', device=self.sensor, commTimeout=10)
        self['xep_0325'].register_node(nodeId='relay', device=self.control, commTimeout=10)
        self.send_presence()
        await self.get_roster()
        emit({'event': 'ready', 'jid': str(self.boundjid.full)})


async def main():
    args = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    client = DeviceClient(args)
    client.connect(address=(args.get('host', '127.0.0.1'), int(args['port'])), disable_starttls=True)
    loop = asyncio.get_event_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(stdin_closed, args.get('timeoutMs', 30000) / 1000)
    except asyncio.TimeoutError:
        pass
    client.disconnect()
    await asyncio.sleep(0.2)


if __name__ == '__main__':
    asyncio.run(main())
