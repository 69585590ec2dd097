#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# A fault-injecting stand-in for Placement and Keystone: only for answers a real server won't give on demand.
"""Serves on 127.0.0.1 (port chosen by the kernel, printed on stdout).

With --https CERT,KEY[,CLIENT_CA] (repeatable) it also serves the same modes
over TLS on one more port per option, with that certificate; with CLIENT_CA
the TLS port requires a client certificate signed by it. The ports are
printed on one line, plain HTTP first: "PORT [TLSPORT...]".

The first path segment picks the behaviour, so one server serves every case
of a test program: http://127.0.0.1:PORT/<mode>/... Modes:

  ok           a small in-memory Placement (providers, traits, generations)
  nosuchtrait  like ok, but lists every managed trait as known and answers a
               PUT naming a model or secret-security trait with 400 "No such trait"
  conflict     like ok, but every trait PUT answers 409 placement.concurrent_update
  e500         every request: 500 with an HTML page
  e403         every request but GET /: 403 with Placement's JSON error
  garbage      GET / answers 200 with a body that is not JSON
  garbagetraits  like ok, but the provider's traits come back as garbage
  slow         GET / answers after 3 seconds
  old          GET / offers microversions up to 1.5
  auth         like ok, but only the newest token from keystone is accepted
  keystone     Keystone v3: POST /keystone/v3/auth/tokens (password "correct
               horse battery" or application credential secret "app-secret")
  keystoneshort  the same, tokens expire 30 seconds after issue
  control      POST /control/revoke: the auth mode rejects the current token
               GET /control/stats: counters as JSON
"""
import argparse
import datetime
import json
import re
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANAGED = [
    'COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0',
    'COMPUTE_SECURITY_TPM_TIS', 'COMPUTE_SECURITY_TPM_CRB',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT',
]
ZED_KNOWN = MANAGED[:2] + ['HW_CPU_X86_AVX2', 'CUSTOM_KEEP_ME']

LOCK = threading.Lock()
PROVIDERS = {}      # (mode, uuid) -> {"name", "generation", "traits"}
TOKENS = {'issued': 0, 'current': None, 'revoked': set()}
STATS = {'requests': 0, 'token_requests': 0, 'puts': 0}


def error_body(status, title, detail, code):
    return {'errors': [{'status': status, 'title': title, 'detail': detail,
                        'code': code, 'request_id': 'req-stub'}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):  # quiet: tests read their own output
        pass

    def send(self, status, body, ctype='application/json', headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(n) if n else b''
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def do_GET(self):
        self.route('GET')

    def do_PUT(self):
        self.route('PUT')

    def do_POST(self):
        self.route('POST')

    def route(self, method):
        with LOCK:
            STATS['requests'] += 1
        body = self.read_body() if method != 'GET' else None
        parts = self.path.split('?', 1)
        path, query = parts[0], parts[1] if len(parts) > 1 else ''
        segs = [s for s in path.split('/') if s]
        mode = segs[0] if segs else ''
        rest = segs[1:]
        if mode == 'control':
            return self.control(rest)
        if mode.startswith('keystone'):
            return self.keystone(mode, rest, body)
        if mode == 'e500':
            return self.send(500, b'<html><body><h1>500 Internal Server Error</h1>'
                             b'</body></html>', 'text/html')
        if mode == 'slow' and not rest:
            time.sleep(3)
        if mode == 'garbage' and not rest:
            return self.send(200, b'{"versions": [ this is not json', 'application/json')
        if not rest:
            top = '1.5' if mode == 'old' else '1.39'
            return self.send(200, {'versions': [{'id': 'v1.0', 'max_version': top,
                                                 'min_version': '1.0', 'status': 'CURRENT'}]})
        if mode == 'e403':
            return self.send(403, error_body(403, 'Forbidden',
                                             'Policy does not allow placement:traits:list '
                                             'to be performed.', 'placement.undefined_code'))
        if mode == 'auth':
            tok = self.headers.get('X-Auth-Token')
            if not tok or tok != TOKENS['current'] or tok in TOKENS['revoked']:
                return self.send(401, {'message': 'The request you have made requires '
                                       'authentication.', 'code': '401 Unauthorized',
                                       'title': 'Unauthorized'})
        elif self.headers.get('X-Auth-Token') != 'admin':
            return self.send(401, {'message': 'no token', 'code': '401 Unauthorized',
                                   'title': 'Unauthorized'})
        return self.placement(mode, method, rest, query, body)

    def control(self, rest):
        if rest == ['revoke']:
            with LOCK:
                if TOKENS['current']:
                    TOKENS['revoked'].add(TOKENS['current'])
            return self.send(200, {})
        if rest == ['stats']:
            with LOCK:
                return self.send(200, dict(STATS))
        return self.send(404, {})

    def keystone(self, mode, rest, body):
        if rest != ['v3', 'auth', 'tokens']:
            return self.send(404, {'error': {'code': 404, 'title': 'Not Found',
                                             'message': 'no such path'}})
        ident = (body or {}).get('auth', {}).get('identity', {})
        methods = ident.get('methods', [])
        good = False
        if methods == ['password']:
            good = ident.get('password', {}).get('user', {}).get('password') == \
                'correct horse battery'
        elif methods == ['application_credential']:
            good = ident.get('application_credential', {}).get('secret') == 'app-secret'
        if not good:
            return self.send(401, {'error': {'code': 401, 'title': 'Unauthorized',
                                             'message': 'The request you have made '
                                             'requires authentication.'}})
        life = 30 if mode == 'keystoneshort' else 3600
        expires = datetime.datetime.utcnow() + datetime.timedelta(seconds=life)
        with LOCK:
            TOKENS['issued'] += 1
            STATS['token_requests'] += 1
            tok = 'tok-%d' % TOKENS['issued']
            TOKENS['current'] = tok
        port = self.server.server_address[1]
        scheme = 'https' if isinstance(self.server, TLSServer) else 'http'
        catalog = [{'type': 'placement', 'name': 'placement', 'endpoints': [
            {'interface': 'internal', 'region_id': 'RegionOne',
             'url': '%s://127.0.0.1:%d/internal-is-wrong' % (scheme, port)},
            {'interface': 'public', 'region_id': 'RegionOne',
             'url': '%s://127.0.0.1:%d/auth' % (scheme, port)}]}]
        return self.send(201, {'token': {
            'methods': methods,
            'expires_at': expires.strftime('%Y-%m-%dT%H:%M:%S.000000Z'),
            'catalog': catalog}}, headers={'X-Subject-Token': tok})

    def placement(self, mode, method, rest, query, body):
        known = MANAGED if mode == 'nosuchtrait' else ZED_KNOWN
        if rest == ['traits'] and method == 'GET':
            m = re.match(r'name=in:(.*)', query)
            names = m.group(1).split(',') if m else known
            return self.send(200, {'traits': [n for n in names if n in known]})
        if rest == ['resource_providers'] and method == 'GET':
            m = re.match(r'name=(.*)', query)
            with LOCK:
                found = [{'uuid': u, 'name': p['name'], 'generation': p['generation']}
                         for (md, u), p in PROVIDERS.items()
                         if md == mode and (not m or p['name'] == m.group(1))]
            return self.send(200, {'resource_providers': found})
        if rest == ['resource_providers'] and method == 'POST':
            u = (body or {}).get('uuid') or str(uuid.uuid4())
            with LOCK:
                PROVIDERS[(mode, u)] = {'name': body['name'], 'generation': 0,
                                        'traits': []}
            return self.send(200, {'uuid': u, 'name': body['name'], 'generation': 0})
        if len(rest) >= 2 and rest[0] == 'resource_providers':
            with LOCK:
                p = PROVIDERS.get((mode, rest[1]))
            if p is None:
                return self.send(404, error_body(404, 'Not Found', 'No resource provider '
                                                 'with uuid %s found' % rest[1],
                                                 'placement.undefined_code'))
            if len(rest) == 2:
                return self.send(200, {'uuid': rest[1], 'name': p['name'],
                                       'generation': p['generation']})
            if rest[2] == 'traits' and method == 'GET':
                if mode == 'garbagetraits':
                    return self.send(200, b'\x00\xffgarbage', 'application/json')
                return self.send(200, {'traits': p['traits'],
                                       'resource_provider_generation': p['generation']})
            if rest[2] == 'traits' and method == 'PUT':
                with LOCK:
                    STATS['puts'] += 1
                if mode == 'conflict':
                    return self.send(409, error_body(
                        409, 'Conflict', "There was a conflict when trying to complete "
                        "your request.\n\n Resource provider's generation already "
                        "changed. Please update the generation and try again.  ",
                        'placement.concurrent_update'))
                bad = [t for t in body['traits'] if t in MANAGED[2:]]
                if mode == 'nosuchtrait' and bad:
                    return self.send(400, error_body(
                        400, 'Bad Request', 'The server could not comply with the '
                        'request since it is either malformed or otherwise incorrect.'
                        '\n\n No such trait %s  ' % ', '.join(bad),
                        'placement.undefined_code'))
                with LOCK:
                    if body['resource_provider_generation'] != p['generation']:
                        return self.send(409, error_body(409, 'Conflict', 'generation',
                                                         'placement.concurrent_update'))
                    if sorted(set(body['traits'])) != sorted(set(p['traits'])):
                        p['generation'] += 1
                    p['traits'] = sorted(set(body['traits']))
                return self.send(200, {'traits': p['traits'],
                                       'resource_provider_generation': p['generation']})
        return self.send(404, error_body(404, 'Not Found', 'no route', 'stub'))


class TLSServer(ThreadingHTTPServer):
    """Handshakes in the connection's own thread: a client that fails it
    (wrong CA, no certificate) costs that thread, not the accept loop."""

    def __init__(self, context):
        super().__init__(('127.0.0.1', 0), Handler)
        self.context = context

    def finish_request(self, request, client_address):
        raw = request.dup()
        try:
            try:
                conn = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                # A refused client (no certificate, unknown CA) has often sent
                # its request already (TLS 1.3). Closing with it unread sends
                # a reset that overtakes the alert, so the client would only
                # see "connection reset". Read until it hangs up, as Apache's
                # lingering close does, so that the alert arrives.
                raw.settimeout(2)
                try:
                    while raw.recv(4096):
                        pass
                except OSError:
                    pass
                return
            try:
                super().finish_request(conn, client_address)
            finally:
                conn.close()
        finally:
            raw.close()


def tls_server(spec):
    parts = spec.split(',')
    if len(parts) not in (2, 3):
        raise SystemExit('--https wants CERT,KEY[,CLIENT_CA], not %r' % spec)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(parts[0], parts[1])
    if len(parts) == 3:
        ctx.load_verify_locations(parts[2])
        ctx.verify_mode = ssl.CERT_REQUIRED
    return TLSServer(ctx)


def main():
    ap = argparse.ArgumentParser(description='fault-injecting Placement/Keystone stub')
    ap.add_argument('--https', action='append', default=[], metavar='CERT,KEY[,CLIENT_CA]')
    args = ap.parse_args()
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    servers = [server] + [tls_server(spec) for spec in args.https]
    for s in servers:
        s.daemon_threads = True
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(' '.join(str(s.server_address[1]) for s in servers), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    sys.exit(main())
