#!/usr/bin/python3
"""tests/cli/tls_server.py -- a minimal TLS AiWorker for the CLI's TLS tests.

    tls_server.py --cert PEM --key PEM [--client-ca PEM]

Serves ai_service.AiWorker/VectorSearch over TLS on a free 127.0.0.1 port
(mutual TLS when --client-ca is given) and answers every call with the
SearchResponse {total_count: 7, success: true}, built by hand on the wire
(field 2 varint 7, field 3 varint 1), so it needs no generated stubs and
shares no code with the reference service. A request's `authorization` header
is sent back as the trailer `x-seen-authorization` (to check --token over
TLS). Prints `LISTENING <port>` when
ready; stops on SIGTERM/SIGINT.
"""
import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

SEARCH_RESPONSE = bytes([0x10, 0x07, 0x18, 0x01])


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def search(request, context):
    auth = [v for k, v in context.invocation_metadata() if k == 'authorization']
    if auth:
        context.set_trailing_metadata((('x-seen-authorization', auth[0]),))
    return SEARCH_RESPONSE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cert', required=True)
    ap.add_argument('--key', required=True)
    ap.add_argument('--client-ca')
    args = ap.parse_args()
    handler = grpc.method_handlers_generic_handler('ai_service.AiWorker', {
        'VectorSearch': grpc.unary_unary_rpc_method_handler(search),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    creds = grpc.ssl_server_credentials(
        [(read(args.key), read(args.cert))],
        root_certificates=read(args.client_ca) if args.client_ca else None,
        require_client_auth=bool(args.client_ca))
    port = server.add_secure_port('127.0.0.1:0', creds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    sys.stdout.write('LISTENING %d\n' % port)
    sys.stdout.flush()
    while not stop.wait(3600):
        pass
    server.stop(grace=0.2).wait()
    return 0


if __name__ == '__main__':
    sys.exit(main())
