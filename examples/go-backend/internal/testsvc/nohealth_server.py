#!/usr/bin/python3
"""A minimal ai_service.AiWorker with NO grpc.health.v1 service, for the
backend's tests: ThinkBank's real AI server may have none, and gRPC's
client-side health checking must then count it as healthy (Watch answered
UNIMPLEMENTED). Only GetEmbedding is registered; it answers, whatever the
request, EmbeddingResponse{semantic_vector: [0.5], success: true}. Messages
are raw bytes (no generated stubs needed).

    /usr/bin/python3 nohealth_server.py [--port 0]
    prints: LISTENING <port>

SIGTERM/SIGINT stop it.
"""
import argparse
import signal
import struct
import sys
import threading
from concurrent import futures

import grpc

# field 1 (semantic_vector, packed float): tag 0x0a, length 4, 0.5f;
# field 3 (success, varint): tag 0x18, 1.
EMBEDDING_RESPONSE = b"\x0a\x04" + struct.pack("<f", 0.5) + b"\x18\x01"


def get_embedding(request, context):
    return EMBEDDING_RESPONSE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    handler = grpc.method_handlers_generic_handler(
        "ai_service.AiWorker", {"GetEmbedding": grpc.unary_unary_rpc_method_handler(get_embedding)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if port == 0:
        print("cannot bind port %d" % args.port, file=sys.stderr)
        sys.exit(1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print("LISTENING %d" % port, flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(0.2).wait()


if __name__ == "__main__":
    main()
