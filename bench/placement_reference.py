#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The reference for bench_placement: the same trait updates from Python's http.client (keep-alive).
"""Usage: placement_reference.py --url URL [--n N] [--clients C] [--round R] [--noop]

For provider i (uuid c0000000-0000-4000-8000-<i, 12 digits>), each update does
what vtpm_placement_publish() does: GET its traits and generation, drop the
seven managed traits, add COMPUTE_SECURITY_TPM_2_0 when (i + round) is even
and COMPUTE_SECURITY_TPM_1_2 when odd, skip the PUT when nothing changes, else
PUT with the generation and re-read on a 409. Each client is a thread with its
own connection, like each C client.
"""
import argparse
import http.client
import json
import resource
import threading
import time
import urllib.parse

MANAGED = {
    'COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0',
    'COMPUTE_SECURITY_TPM_TIS', 'COMPUTE_SECURITY_TPM_CRB',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT',
}
HEADERS = {
    'X-Auth-Token': 'admin',
    'OpenStack-API-Version': 'placement 1.39',
    'Accept': 'application/json',
    'Content-Type': 'application/json',
}


def provider_uuid(i):
    return 'c0000000-0000-4000-8000-%012d' % i


class Worker(threading.Thread):
    def __init__(self, url, indices, round_, noop):
        super().__init__()
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.indices, self.round, self.noop = indices, round_, noop
        self.lat, self.requests, self.puts, self.conflicts, self.failures = [], 0, 0, 0, 0

    def call(self, method, path, body=None):
        self.requests += 1
        self.conn.request(method, path, body=body, headers=HEADERS)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None

    def update(self, i):
        path = '/resource_providers/%s/traits' % provider_uuid(i)
        want = 'COMPUTE_SECURITY_TPM_1_2' if (i + self.round) % 2 else 'COMPUTE_SECURITY_TPM_2_0'
        for _ in range(6):
            status, doc = self.call('GET', path)
            if status != 200:
                return 'error'
            current = doc['traits']
            new = [t for t in current if t not in MANAGED] + [want]
            if set(new) == set(current):
                return 'unchanged'
            self.puts += 1
            status, doc = self.call('PUT', path, json.dumps(
                {'traits': new,
                 'resource_provider_generation': doc['resource_provider_generation']}))
            if status == 200:
                return 'changed'
            if status == 409 or (status == 500 and 'concurrently' in json.dumps(doc)):
                self.conflicts += 1
                time.sleep(0.05)
                continue
            return 'error'
        return 'error'

    def run(self):
        expect = 'unchanged' if self.noop else 'changed'
        for i in self.indices:
            t0 = time.monotonic()
            outcome = self.update(i)
            self.lat.append(time.monotonic() - t0)
            if outcome != expect:
                self.failures += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--clients', type=int, default=1)
    ap.add_argument('--round', type=int, default=0)
    ap.add_argument('--noop', action='store_true')
    a = ap.parse_args()
    per = a.n // a.clients
    workers = [Worker(a.url, range(c * per, a.n if c == a.clients - 1 else (c + 1) * per),
                      a.round, a.noop) for c in range(a.clients)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime   # includes start-up (imports), as for C
    lat = sorted(x for w in workers for x in w.lat)
    print('Python     %-6s clients=%d n=%d  %7.1f updates/s  median %5.1f ms  p90 %5.1f ms'
          '  client CPU %.3f ms/update  requests/update %.2f  PUTs %d  conflicts %d'
          '  connections %d  failures %d' % (
              'no-op' if a.noop else 'change', a.clients, a.n, a.n / wall,
              lat[len(lat) // 2] * 1e3, lat[len(lat) * 9 // 10] * 1e3,
              cpu * 1e3 / a.n,
              sum(w.requests for w in workers) / a.n, sum(w.puts for w in workers),
              sum(w.conflicts for w in workers), a.clients,
              sum(w.failures for w in workers)))
    return 1 if any(w.failures for w in workers) else 0


if __name__ == '__main__':
    raise SystemExit(main())
