#!/usr/bin/python3
"""A small slixmpp 1.8.3 client driven by the test suite (see slixmpp.ts).

Run it with Debian's /usr/bin/python3 (the python3 first on PATH may be a separate build
that cannot import Debian's python3-slixmpp):

    /usr/bin/python3 slixmpp_client.py '{"jid": "a@localhost", "password": "pw",
        "host": "127.0.0.1", "port": 5222, "action": "ping"}'

Arguments (one JSON object in argv[1]):
    jid, password, host, port   account and server (STARTTLS is disabled)
    action                      'ping' | 'read-momentary' | 'subscribe'
    target                      full JID (read-momentary), any JID (ping), bare JID (subscribe)
    timeoutMs                   overall deadline for the action (default 10000)
    nodeIds, fields, flags      optional readout restrictions (read-momentary); flags default
                                to {"momentary": "true"}
    mutual                      subscribe: also wait until the target subscribed back ('both')
    debug                       log slixmpp at DEBUG level to stderr

Prints exactly one JSON line to stdout: {"ok": true, ...} and exits 0, or
{"ok": false, "error": "...", ...} and exits 1 (timeout, failed login, bad arguments).
"""

import asyncio
import json
import logging
import sys
import time

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

SENSORDATA_NS = 'urn:xmpp:iot:sensordata'
TERMINAL_READOUT_RESULTS = ('done', 'rejected', 'cancelled', 'failure', 'error')


class Failure(Exception):
    pass


class Client(ClientXMPP):
    def __init__(self, args):
        ClientXMPP.__init__(self, args['jid'], args['password'])
        self.args = args
        self.output = {'ok': False, 'action': args['action']}
        self.finished = asyncio.get_event_loop().create_future()
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0199')
        self.register_plugin('xep_0323')
        self.register_plugin('xep_0325')
        self.register_plugin('xep_0004')
        self.register_plugin('xep_0050')
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('failed_all_auth', lambda _e: self.fail('authentication failed'))
        self.add_event_handler('connection_failed', lambda e: self.fail(f'connection failed: {e}'))
        # Readout state
        self.events = []
        self.fields = []
        self.iq_errors = []
        self.seqnr = None
        # Subscription state
        self.presences = []
        self.subscriptions = []

    # -- plumbing ---------------------------------------------------------------------------

    def fail(self, message):
        if not self.finished.done():
            self.finished.set_exception(Failure(message))

    def finish(self):
        if not self.finished.done():
            self.finished.set_result(None)

    async def on_session_start(self, _event):
        try:
            self.output['jid'] = str(self.boundjid.full)
            self.send_presence()
            await self.get_roster()
            action = self.args['action']
            if action == 'ping':
                await self.do_ping()
            elif action == 'read-momentary':
                self.do_read_momentary()
            elif action == 'subscribe':
                self.do_subscribe()
            elif action == 'control-set':
                self.do_control_set()
            elif action == 'control-message':
                self.do_control_message()
            elif action == 'adhoc':
                await self.do_adhoc()
            elif action == 'chat':
                self.do_chat()
            else:
                self.fail(f'unknown action {action!r}')
        except Exception as err:  # noqa: BLE001 - reported to the caller as JSON
            self.fail(f'{type(err).__name__}: {err}')

    # -- ping -------------------------------------------------------------------------------

    async def do_ping(self):
        target = self.args.get('target')
        if target:
            started = time.monotonic()
            await self['xep_0199'].ping(jid=target, timeout=self.args.get('timeoutMs', 10000) / 1000)
            self.output['rttMs'] = round((time.monotonic() - started) * 1000, 3)
        self.output['ok'] = True
        self.finish()

    # -- XEP-0325 control ------------------------------------------------------------------------

    def control_args(self):
        target = self.args.get('target')
        if not target:
            raise Failure('control needs a target full JID')
        # [[name, typename, value], ...] as xep_0325 wants them (tuples)
        fields = [tuple(f) for f in self.args.get('params') or []]
        return target, fields, self.args.get('nodeIds')

    def do_control_set(self):
        target, fields, node_ids = self.control_args()
        self.register_handler(Callback('xp control iq error', StanzaPath('iq@type=error'), self.on_control_iq_error))
        self['xep_0325'].set_request(self.boundjid.full, target, self.on_control, fields, nodeIds=node_ids)

    def on_control(self, from_jid, result, nodeIds=None, fields=None, error_msg=None):
        self.events.append({'result': result, 'from': str(from_jid), 'error': error_msg})
        self.output['ok'] = result == 'OK'
        self.finish()

    def on_control_iq_error(self, iq):
        err = iq['error']
        self.iq_errors.append({'from': str(iq['from']), 'type': err['type'], 'condition': err['condition'], 'text': err['text']})
        self.events.append({'result': 'error', 'from': str(iq['from']), 'error': err['text'] or err['condition']})
        self.finish()

    def do_control_message(self):
        target, fields, node_ids = self.control_args()
        self['xep_0325'].set_command(self.boundjid.full, target, fields, nodeIds=node_ids)
        # Fire and forget: give the stream a moment to flush before disconnecting.
        asyncio.get_event_loop().call_later(0.3, self._done_ok)

    def _done_ok(self):
        self.output['ok'] = True
        self.finish()

    # -- XEP-0050 ad-hoc commands (as Gajim/Conversations would run them) -----------------------

    async def do_adhoc(self):
        target = self.args['target']
        items = await self['xep_0030'].get_items(jid=target, node='http://jabber.org/protocol/commands')
        listed = [(node, name) for (_jid, node, name) in items['disco_items']['items']]
        self.output['commands'] = [name for (_node, name) in listed]
        wanted = self.args.get('command')
        if not wanted:
            self.output['ok'] = True
            self.finish()
            return
        node = next((n for (n, name) in listed if name == wanted), None)
        if node is None:
            raise Failure(f'command {wanted!r} not listed')
        self.output['steps'] = []
        session = {'next': self.on_adhoc_step, 'error': self.on_adhoc_error, 'steps': list(self.args.get('steps') or [])}
        self['xep_0050'].start_command(target, node, session)

    def on_adhoc_step(self, iq, session):
        cmd = iq['command']
        form = cmd['form']
        fields = {}
        if form is not None:
            raw = form['fields']
            for f in (raw.values() if hasattr(raw, 'values') else raw):
                opts = f['options'] or []
                fields[f['var']] = {'type': f['type'], 'value': f['value'],
                                    'options': [o['value'] if isinstance(o, dict) or hasattr(o, 'keys') else o for o in opts]}
        self.output['steps'].append({'status': cmd['status'], 'notes': [[t, txt] for (t, txt) in cmd['notes']],
                                     'fields': fields, 'actions': list(cmd['actions'])})
        if cmd['status'] in ('completed', 'canceled'):
            self.output['ok'] = True
            self.finish()
            return
        step = session['steps'].pop(0) if session['steps'] else {}
        submit = self['xep_0004'].make_form(ftype='submit')
        for var, value in step.items():
            submit.add_field(var=var, value=value)
        session['payload'] = [submit]
        session['next'] = self.on_adhoc_step
        if 'next' in cmd['actions']:
            self['xep_0050'].continue_command(session, 'next')
        else:
            self['xep_0050'].complete_command(session)

    def on_adhoc_error(self, iq, session):
        err = iq['error']
        self.iq_errors.append({'from': str(iq['from']), 'type': err['type'], 'condition': err['condition'], 'text': err['text']})
        self.finish()

    # -- chat -------------------------------------------------------------------------------------

    def do_chat(self):
        self.output['replies'] = []
        expected = len(self.args.get('lines') or [])

        def on_message(msg):
            if msg['type'] in ('chat', 'normal') and msg['body'] and str(msg['from'].bare) == self.args['target']:
                self.output['replies'].append(msg['body'])
                if len(self.output['replies']) >= expected:
                    self.output['ok'] = True
                    self.finish()
        self.add_event_handler('message', on_message)
        for line in self.args.get('lines') or []:
            self.send_message(mto=self.args['target'], mbody=line, mtype='chat')

    # -- XEP-0323 momentary readout -----------------------------------------------------------

    def do_read_momentary(self):
        target = self.args.get('target')
        if not target:
            raise Failure('read-momentary needs a target full JID')
        # An IQ error without <rejected/> (the RFC 6120 form of the final XEP) never reaches the
        # plugin's callback: catch it here. Handlers run in registration order, so the plugin's
        # own 'rejected' callback (if any) has already run when this one sees the same stanza.
        self.register_handler(Callback('xp readout iq error', StanzaPath('iq@type=error'), self.on_iq_error))
        flags = self.args.get('flags') or {'momentary': 'true'}
        self.seqnr = self['xep_0323'].request_data(
            self.boundjid.full,
            target,
            self.on_readout,
            nodeIds=self.args.get('nodeIds'),
            fields=self.args.get('fields'),
            flags=flags,
        )
        self.output['seqnr'] = self.seqnr

    def on_readout(self, from_jid, result, nodeId=None, timestamp=None, fields=None, error_msg=None):
        """The xep_0323 client callback. slixmpp calls it with keyword arguments only:
        accepted/queued/started/cancelled/done: (from_jid, result)
        rejected: (from_jid, result, error_msg)
        fields:   (from_jid, result, nodeId, timestamp, fields=[{name, typename, value, unit?, dataType?, flags?}])
        failure:  (from_jid, result, nodeId, timestamp, error_msg)
        """
        event = {'result': result, 'from': str(from_jid)}
        if nodeId is not None:
            event['nodeId'] = nodeId
        if timestamp is not None:
            event['timestamp'] = timestamp
        if error_msg is not None:
            event['error'] = error_msg
        if fields is not None:
            event['fields'] = fields
            for f in fields:
                flat = {'nodeId': nodeId, 'timestamp': timestamp}
                flat.update(f)
                self.fields.append(flat)
        self.events.append(event)
        if result in TERMINAL_READOUT_RESULTS:
            self.output['ok'] = True
            self.finish()

    def on_iq_error(self, iq):
        if self.seqnr is None or iq['id'] != self.seqnr:
            return
        err = iq['error']
        self.iq_errors.append({
            'from': str(iq['from']),
            'type': err['type'],
            'condition': err['condition'],
            'text': err['text'],
        })
        if iq.xml.find(f'{{{SENSORDATA_NS}}}rejected') is None:
            # Not seen by the plugin: report it as a terminal 'error' readout event.
            self.on_readout(iq['from'], 'error', error_msg=err['text'] or err['condition'])

    # -- presence subscription --------------------------------------------------------------

    def do_subscribe(self):
        target = self.args.get('target')
        if not target:
            raise Failure('subscribe needs a target JID')
        self.target_bare = target.split('/')[0]
        for kind in ('subscribe', 'subscribed', 'unsubscribe', 'unsubscribed'):
            self.add_event_handler(f'presence_{kind}', self.on_subscription_presence)
        self.add_event_handler('roster_update', lambda _iq: self.check_subscription())
        self.add_event_handler('changed_subscription', lambda _p: self.check_subscription())
        # Incoming requests are approved by slixmpp itself (roster auto_authorize/auto_subscribe).
        self.send_presence_subscription(pto=self.target_bare)
        self.check_subscription()

    def on_subscription_presence(self, presence):
        if presence['from'].bare == self.target_bare:
            self.presences.append(presence['type'])
        self.check_subscription()

    def check_subscription(self):
        state = self.client_roster[self.target_bare]['subscription']
        if not self.subscriptions or self.subscriptions[-1] != state:
            self.subscriptions.append(state)
        wanted = ('both',) if self.args.get('mutual') else ('to', 'both')
        if state in wanted:
            self.output['ok'] = True
            self.finish()


async def run(args):
    client = Client(args)
    timeout = args.get('timeoutMs', 10000) / 1000
    client.connect(address=(args.get('host', '127.0.0.1'), int(args['port'])), disable_starttls=True)
    try:
        await asyncio.wait_for(asyncio.shield(client.finished), timeout)
    except asyncio.TimeoutError:
        client.output['ok'] = False
        client.output['error'] = f'timeout after {round(timeout * 1000)} ms'
    except Failure as err:
        client.output['ok'] = False
        client.output['error'] = str(err)
    out = client.output
    if args['action'] == 'adhoc':
        out['iqErrors'] = client.iq_errors
    if args['action'] in ('control-set', 'control-message'):
        out['results'] = [e['result'] for e in client.events]
        out['iqErrors'] = client.iq_errors
    if args['action'] == 'read-momentary':
        out['results'] = [e['result'] for e in client.events]
        out['events'] = client.events
        out['fields'] = client.fields
        out['iqErrors'] = client.iq_errors
    elif args['action'] == 'subscribe':
        out['presences'] = client.presences
        out['subscriptions'] = client.subscriptions
        out['subscription'] = client.subscriptions[-1] if client.subscriptions else 'none'
    try:
        await asyncio.wait_for(client.disconnect(wait=1.0), 2)
    except Exception:  # noqa: BLE001 - exiting anyway
        pass
    return out


def quiet_iq_errors(loop, context):
    # request_data() drops the future of the IQ it sends, so an IQ error reply is logged as
    # 'Future exception was never retrieved'; on_iq_error already reports it.
    if isinstance(context.get('exception'), IqError):
        return
    loop.default_exception_handler(context)


def main():
    try:
        args = json.loads(sys.argv[1])
        for key in ('jid', 'password', 'port', 'action'):
            if key not in args:
                raise ValueError(f'missing argument {key!r}')
    except (IndexError, ValueError) as err:
        print(json.dumps({'ok': False, 'error': f'bad arguments: {err}'}), flush=True)
        sys.exit(1)
    logging.basicConfig(
        level=logging.DEBUG if args.get('debug') else logging.WARNING,
        stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s: %(message)s',
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(quiet_iq_errors)
    out = loop.run_until_complete(run(args))
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    print(json.dumps(out, default=str), flush=True)
    sys.exit(0 if out.get('ok') else 1)


if __name__ == '__main__':
    main()
