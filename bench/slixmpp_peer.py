"""slixmpp 1.8.3 baselines for `npm run bench` (run with /usr/bin/python3).

One JSON argument: {"jid", "password", "host", "port", "mode", ...}
  mode "device":  a xep_0323 device exposing the fields given in "fields" ([[name, unit, value], ...]) on node
                  "node"; prints {"event": "ready", "jid": FULL} and serves until stdin closes.
  mode "publish": publishes "count" items with "payload" (an XML string) to its own PEP node "pepNode",
                  one after the other, each awaiting its ack; prints {"event": "done", "seconds": S, "acked": N}.
"""
import asyncio
import json
import sys
import time
import xml.etree.ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.plugins.xep_0323.device import Device as SensorDevice


def emit(obj):
    print(json.dumps(obj), flush=True)


class FixedDevice(SensorDevice):
    def __init__(self, node_id, fields):
        SensorDevice.__init__(self, node_id)
        self.values = fields
        for name, unit, _value in fields:
            self._add_field(name=name, typename='numeric', unit=unit)

    def refresh(self, fields):
        for name, _unit, value in self.values:
            self._add_field_momentary_data(name, value, flags={'automaticReadout': 'true'})


class Peer(ClientXMPP):
    def __init__(self, args):
        ClientXMPP.__init__(self, args['jid'], args['password'])
        self.args = args
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0060')
        self.register_plugin('xep_0323')
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', self.on_start)

    async def on_start(self, _event):
        self.send_presence()
        await self.get_roster()
        if self.args['mode'] == 'device':
            device = FixedDevice(self.args.get('node', 'host'), self.args['fields'])
            device.refresh([])
            self['xep_0323'].register_node(nodeId=self.args.get('node', 'host'), device=device, commTimeout=10)
            emit({'event': 'ready', 'jid': str(self.boundjid.full)})
        else:
            payload = ET.fromstring(self.args['payload'])
            started = time.monotonic()
            acked = 0
            for i in range(int(self.args['count'])):
                await self['xep_0060'].publish(self.boundjid.bare, self.args['pepNode'], id=self.args.get('itemId', 'host'), payload=payload)
                acked += 1
            emit({'event': 'done', 'seconds': time.monotonic() - started, 'acked': acked})
            self.done.set_result(None)


async def main():
    args = json.loads(sys.argv[1])
    peer = Peer(args)
    peer.connect(address=(args.get('host', '127.0.0.1'), int(args['port'])), disable_starttls=True)
    if args['mode'] == 'device':
        await asyncio.get_event_loop().run_in_executor(None, sys.stdin.read)
    else:
        await asyncio.wait_for(peer.done, args.get('timeoutSeconds', 300))
    peer.disconnect()
    await asyncio.sleep(0.2)


if __name__ == '__main__':
    asyncio.run(main())
