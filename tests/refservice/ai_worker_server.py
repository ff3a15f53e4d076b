#!/usr/bin/python3
"""The reference AiWorker: a small, deterministic ai_service.AiWorker for tests.

Run with Debian's Python (the one that has grpc):

    /usr/bin/python3 tests/refservice/ai_worker_server.py --port 0 [--host 127.0.0.1] [--events FILE]

Prints exactly one line `LISTENING <port>` (flushed) once it accepts calls and
stops on SIGTERM/SIGINT. Behaviour, corpus, chat text and the `!directives`
are documented in tests/refservice/README.md, which is authoritative; keep the
two in step.
"""

import argparse
import base64
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PROTO_DIR = os.path.join(REPO, "idl")
PROTO = os.path.join(PROTO_DIR, "ai_service.proto")
GEN_DIR = os.environ.get("AIW_PY_GEN_DIR") or os.path.join(REPO, "build", "gen", "py")
GEN_FILES = ("ai_service_pb2.py", "ai_service_pb2_grpc.py")
# Every proto the server needs, with the files protoc makes of it.
STUBS = ((PROTO, GEN_FILES),
         (os.path.join(PROTO_DIR, "health.proto"), ("health_pb2.py", "health_pb2_grpc.py")))

MAX_MESSAGE = 64 * 1024 * 1024


def _stale(proto, files):
    try:
        proto_mtime = os.stat(proto).st_mtime
    except OSError:
        proto_mtime = 0
    return not all(os.path.exists(os.path.join(GEN_DIR, f)) and
                   os.stat(os.path.join(GEN_DIR, f)).st_mtime >= proto_mtime for f in files)


def ensure_stubs():
    """Generate the Python stubs into GEN_DIR if missing or older than their
    proto. Concurrent starters are safe: files are generated into a private
    directory and renamed into place atomically."""
    stale = [(proto, files) for proto, files in STUBS if _stale(proto, files)]
    if stale:
        os.makedirs(GEN_DIR, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".gen-", dir=GEN_DIR)
        try:
            subprocess.run(["protoc", "-I" + PROTO_DIR, "--python_out=" + tmp, "--grpc_out=" + tmp,
                            "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"] +
                           [proto for proto, _ in stale], check=True)
            for _, files in stale:
                for f in files:
                    os.replace(os.path.join(tmp, f), os.path.join(GEN_DIR, f))
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)
    if GEN_DIR not in sys.path:
        sys.path.insert(0, GEN_DIR)


ensure_stubs()

import grpc  # noqa: E402
import ai_service_pb2 as pb  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402

# ---------------------------------------------------------------------------
# Deterministic embeddings: embedding.py (next to this file) is the formula's
# only implementation; the test suites read their expected vectors from it.
# ---------------------------------------------------------------------------

sys.path.insert(0, HERE)  # this file's directory first: not a module of GEN_DIR's
sys.dont_write_bytecode = True  # no __pycache__/ in the tree (tests/schema diffs a copy of it)
import embedding  # noqa: E402

IMAGE_FORMATS = ("", "png", "jpg", "jpeg", "gif", "webp")


# ---------------------------------------------------------------------------
# The corpus (README.md has the same table)
# ---------------------------------------------------------------------------

THUMB = "https://thumbs.example.com/%s.jpg"


def f32(x):
    return None if x is None else struct.unpack("f", struct.pack("f", x))[0]


def _doc(asset_id, caption, mime, semantic, visual, hybrid, **metadata):
    semantic, visual, hybrid = f32(semantic), f32(visual), f32(hybrid)
    return {"asset_id": asset_id, "caption": caption, "mime_type": mime, "thumbnail_url": THUMB % asset_id,
            "scores": {"semantic": semantic, "visual": visual, "hybrid": hybrid}, "metadata": metadata}


# visual is None for assets that are not images: VISUAL search never returns them.
CORPUS = [
    _doc("doc-001", "Quarterly report 2024 Q1", "application/pdf", 0.95, None, 0.5,
         owner="alice", year="2024", kind="report"),
    _doc("img-002", "Sunset over the harbour", "image/jpeg", 0.9, 0.97, 0.875,
         owner="bob", year="2023", kind="photo"),
    _doc("doc-003", "Meeting notes: product launch", "text/plain", 0.875, None, 0.375,
         owner="alice", year="2024", kind="notes"),
    _doc("img-004", "Team photo at the offsite", "image/png", 0.8, 0.9, 0.75,
         owner="carol", year="2024", kind="photo"),
    _doc("doc-005", "Invoice #4411 from Acme", "application/pdf", 0.75, None, 0.25,
         owner="bob", year="2022", kind="invoice"),
    _doc("img-006", "Whiteboard sketch of the architecture", "image/png", 0.7, 0.85, 0.625,
         owner="alice", year="2024", kind="diagram"),
    _doc("doc-007", "Contract draft v3", "application/msword", 0.625, None, 0.125,
         owner="dave", year="2023", kind="contract"),
    _doc("img-008", "Scanned receipt, café Mühle", "image/jpeg", 0.6, 0.8, 0.6875,
         owner="carol", year="2022", kind="receipt"),
    _doc("doc-009", "Travel itinerary: Zürich", "text/markdown", 0.5, None, 0.0625,
         owner="dave", year="2024", kind="travel"),
    _doc("img-010", "Product mockup", "image/webp", 0.45, 0.75, 0.5625,
         owner="bob", year="2024", kind="design"),
    _doc("doc-011", "Research paper on embeddings", "application/pdf", 0.375, None, 0.03125,
         owner="erin", year="2021", kind="paper"),
    _doc("img-012", "Cat on the keyboard", "image/gif", 0.25, 0.7, 0.4375,
         owner="erin", year="2023", kind="photo"),
]

DEFAULT_LIMIT = 10
DEFAULT_CHAT_SOURCES = 3


def _filter_ok(doc, filters):
    for f in filters:
        if "=" in f:
            k, v = f.split("=", 1)
            if doc["metadata"].get(k) != v:
                return False
        elif not doc["mime_type"].startswith(f):
            return False
    return True


def search_corpus(kind, threshold, filters):
    """All matching docs as (score, doc), best first (score desc, asset_id asc)."""
    hits = []
    for doc in CORPUS:
        score = doc["scores"][kind]
        if score is None or score < threshold or not _filter_ok(doc, filters):
            continue
        hits.append((score, doc))
    hits.sort(key=lambda h: (-h[0], h[1]["asset_id"]))
    return hits


def make_result(score, doc):
    return pb.SearchResult(asset_id=doc["asset_id"], score=score, caption=doc["caption"], mime_type=doc["mime_type"],
                           thumbnail_url=doc["thumbnail_url"], metadata=doc["metadata"])


SEARCH_KIND = {pb.SEARCH_UNKNOWN: "semantic", pb.SEARCH_SEMANTIC: "semantic", pb.SEARCH_VISUAL: "visual",
               pb.SEARCH_HYBRID: "hybrid"}


def chat_sources(options):
    limit = options.max_context_docs if options.max_context_docs > 0 else DEFAULT_CHAT_SOURCES
    hits = [(s, d) for s, d in search_corpus("semantic", options.similarity_threshold, [])
            if options.include_images or not d["mime_type"].startswith("image/")]
    return [make_result(s, d) for s, d in hits[:limit]]


def chat_chunks(query):
    return ["You asked: %s. " % query, "This is the reference AI service; ", "its answers are deterministic, ",
            "streamed in five chunks, ", "with sources on the last one."]


# ---------------------------------------------------------------------------
# Directives
# ---------------------------------------------------------------------------

# `!garbage`: bytes that are not a valid protobuf message (a field with wire
# type 7, which does not exist), sent in place of the response message.
GARBAGE = b"\x0f\xff\xff"


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, data):
    """A length-delimited field (wire type 2) holding the bytes `data`."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


# `!badkey` (VectorSearch): a SearchResponse serialized by hand, since
# Python's protobuf refuses strings that are not valid UTF-8. One result,
# asset_id "badkey", score 1.0, metadata {b"k\xffey": b"v\xfealue",
# "ok": "fine"}; total_count 1, success true.
BADKEY = _field(1, _field(1, b"badkey") + b"\x15" + struct.pack("<f", 1.0) +
                _field(6, _field(1, b"k\xffey") + _field(2, b"v\xfealue")) +
                _field(6, _field(1, b"ok") + _field(2, b"fine"))) + b"\x10\x01" + b"\x18\x01"

# `!nul`: strings with NUL bytes (valid UTF-8, so protobuf sends them).
NUL_ERROR = "error\0after NUL"


def nul_result():
    return pb.SearchResult(asset_id="nul\0id", score=1.0, caption="cap\0tion", mime_type="text/plain",
                           metadata={"k\0ey": "v\0alue"})


# `!nan`: floats that are not finite (JSON has no number for them).
NAN_VECTOR = [0.5, float("nan"), float("inf"), float("-inf")]


def nan_results():
    return [pb.SearchResult(asset_id=a, score=v, caption=a, mime_type="text/plain")
            for a, v in (("nan", float("nan")), ("inf", float("inf")), ("-inf", float("-inf")))]


def serialize(msg):
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


# `!details:`: the `grpc-status-details-bin` trailer, a google.rpc.Status
# (idl/rpc_status.proto has its wire form) serialized by hand.
DETAILS_ERROR_INFO = _field(1, b"AIW_TEST") + _field(2, b"refservice.thinkbank")  # google.rpc.ErrorInfo
DETAILS_RAW = b"\x00\x01\xfe\xff"


def status_details(code, message):
    msg = message.encode("utf-8")
    return (b"\x08" + _varint(code.value[0]) + (_field(2, msg) if msg else b"") +
            _field(3, _field(1, b"type.googleapis.com/google.rpc.ErrorInfo") + _field(2, DETAILS_ERROR_INFO)) +
            _field(3, _field(1, b"type.googleapis.com/aiw.test.Raw") + _field(2, DETAILS_RAW)))


# `!fail-attempts:N:KEY`: attempts counted per KEY, process-wide.
ATTEMPTS = {}
ATTEMPTS_LOCK = threading.Lock()


class Abort(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def status_code(name):
    try:
        code = grpc.StatusCode[name]
    except KeyError:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: unknown status code %r" % name)
    if code == grpc.StatusCode.OK:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: status code OK is not an error")
    return code


def nonneg_int(text, what):
    try:
        v = int(text, 10)
    except ValueError:
        v = -1
    if v < 0:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: %s needs a non-negative integer" % what)
    return v


def parse_directive(s):
    """(name, args) for a string starting with a known directive, else None."""
    if not s.startswith("!"):
        return None
    if s == "!echo":
        return ("echo", ())
    if s == "!empty":
        return ("empty", ())
    if s == "!garbage":
        return ("garbage", ())
    if s == "!garbage-mid":
        return ("garbage-mid", ())
    if s == "!badkey":
        return ("badkey", ())
    if s == "!nul":
        return ("nul", ())
    if s == "!nan":
        return ("nan", ())
    if s.startswith("!set:"):
        path, eq, value = s[len("!set:"):].partition("=")
        if not eq or not path:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: !set:FIELD=VALUE")
        return ("set", (path, value))
    if s.startswith("!error:"):
        parts = s[len("!error:"):].split(":", 1)
        return ("error", (status_code(parts[0]), parts[1] if len(parts) > 1 else ""))
    if s.startswith("!fail:"):
        return ("fail", (s[len("!fail:"):],))
    if s.startswith("!details:"):
        parts = s[len("!details:"):].split(":", 1)
        return ("details", (status_code(parts[0]), parts[1] if len(parts) > 1 else ""))
    if s.startswith("!fail-attempts:"):
        parts = s[len("!fail-attempts:"):].split(":", 2)
        if len(parts) < 2:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: !fail-attempts:N:KEY[:CODE_NAME]")
        code = status_code(parts[2]) if len(parts) > 2 else grpc.StatusCode.UNAVAILABLE
        return ("fail-attempts", (nonneg_int(parts[0], "!fail-attempts"), parts[1], code))
    if s.startswith("!attempts:"):
        return ("attempts", (s[len("!attempts:"):],))
    if s.startswith("!health:"):
        arg = s[len("!health:"):]
        if arg not in ("SERVING", "NOT_SERVING"):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: !health:SERVING or !health:NOT_SERVING")
        return ("health", (health_pb2.HealthCheckResponse.ServingStatus.Value(arg),))
    if s.startswith("!slow:"):
        return ("slow", (nonneg_int(s[len("!slow:"):], "!slow"),))
    if s.startswith("!hold:"):
        return ("hold", (nonneg_int(s[len("!hold:"):], "!hold"),))
    if s.startswith("!many:"):
        return ("many", (nonneg_int(s[len("!many:"):], "!many"),))
    if s.startswith("!big:"):
        return ("big", (nonneg_int(s[len("!big:"):], "!big"),))
    if s.startswith("!count:"):
        return ("count", (nonneg_int(s[len("!count:"):], "!count"),))
    if s.startswith("!sizes:"):
        return ("sizes", tuple(nonneg_int(n, "!sizes") for n in s[len("!sizes:"):].split(",")))
    if s.startswith("!error-after:"):
        parts = s[len("!error-after:"):].split(":", 2)
        if len(parts) < 2:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: !error-after:N:CODE_NAME:message")
        return ("error-after", (nonneg_int(parts[0], "!error-after"), status_code(parts[1]),
                                parts[2] if len(parts) > 2 else ""))
    return None


def common_directive(call, d):
    """Applies the directives every RPC treats alike (`!error:`, `!details:`,
    `!fail-attempts:`, `!attempts:`): raises Abort for a failure, else returns
    (name, args) for the RPC to go on with; (None, ()) means ordinary input."""
    if not d:
        return (None, ())
    name, args = d
    if name == "error":
        raise Abort(*args)
    if name == "details":
        call.trailers.append(("grpc-status-details-bin", status_details(*args)))
        raise Abort(*args)
    if name == "fail-attempts":
        n, key, code = args
        with ATTEMPTS_LOCK:
            k = ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        call.trailers.append(("x-aiw-attempt", str(k)))
        call.trailers.append(("x-aiw-previous-attempts", call.metadata.get("grpc-previous-rpc-attempts", "0")))
        if k <= n:
            raise Abort(code, "attempt %d of %s fails" % (k, key))
        return (None, ())
    if name == "attempts":
        with ATTEMPTS_LOCK:
            k = ATTEMPTS.get(args[0], 0)
        call.trailers.append(("x-aiw-attempt-count", str(k)))
        return (None, ())
    return d


# `!set:FIELD=VALUE`: any field of the response, by its name in the .proto,
# through protobuf's reflection -- so a field added to idl/ai_service.proto
# can be filled without a line of code here.
DIRECTIVE_FIELD = {"ProcessAsset": "asset_id", "ChatStream": "query", "GetEmbedding": "text",
                   "VectorSearch": "query"}


def bad_set(why):
    return Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad directive: !set: " + why)


def parse_value(fd, text):
    """`text` as a value of the scalar field `fd`."""
    t = fd.type
    try:
        if t == fd.TYPE_STRING:
            return text
        if t == fd.TYPE_BYTES:
            return text.encode("utf-8")
        if t == fd.TYPE_BOOL:
            return {"true": True, "false": False, "1": True, "0": False}[text]
        if t in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
            return float(text)
        if t == fd.TYPE_ENUM:
            v = fd.enum_type.values_by_name.get(text)
            return v.number if v is not None else int(text, 10)
        if t in (fd.TYPE_MESSAGE, fd.TYPE_GROUP):
            raise bad_set("%s is a message: name one of its fields (%s.FIELD)" % (fd.name, fd.name))
        return int(text, 10)
    except (KeyError, ValueError):
        raise bad_set("%r is not a value of %s" % (text, fd.full_name))


def set_field(msg, path, text):
    """Sets the field `path` (`a.b`: b of the message field a -- of each
    element when a is repeated) in `msg`: a scalar to the value `text`, a
    repeated scalar to the comma-separated values of `text` (none when
    empty), a map entry from `KEY:VALUE`."""
    targets, desc = [msg], msg.DESCRIPTOR
    names = path.split(".")
    for i, name in enumerate(names):
        fd = desc.fields_by_name.get(name)
        if fd is None:
            raise bad_set("%s has no field %r" % (desc.full_name, name))
        if i + 1 < len(names):
            if fd.type != fd.TYPE_MESSAGE or fd.message_type.GetOptions().map_entry:
                raise bad_set("%s is not a message" % fd.full_name)
            desc = fd.message_type
            if fd.label == fd.LABEL_REPEATED:
                targets = [e for t in targets for e in getattr(t, name)]
            else:
                targets = [getattr(t, name) for t in targets]
            continue
        # The value first (a bad one is refused even where no element has the field).
        is_map = fd.type == fd.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry
        if is_map:
            k, _, v = text.partition(":")
            entry = fd.message_type.fields_by_name
            value = (parse_value(entry["key"], k), parse_value(entry["value"], v))
        elif fd.label == fd.LABEL_REPEATED:
            value = [parse_value(fd, v) for v in text.split(",")] if text else []
        else:
            value = parse_value(fd, text)
        # ... and tried on an element of its own (a number out of the field's range).
        probe = getattr(pb, desc.name)() if desc.containing_type is None and hasattr(pb, desc.name) else None
        for t in targets + ([probe] if probe is not None else []):
            try:
                if is_map:
                    getattr(t, name)[value[0]] = value[1]
                elif fd.label == fd.LABEL_REPEATED:
                    del getattr(t, name)[:]
                    getattr(t, name).extend(value)
                else:
                    setattr(t, name, value)
            except (TypeError, ValueError) as e:
                raise bad_set("%s = %r: %s" % (fd.full_name, text, e))


def response_setter(rpc, request):
    """For a request whose directive is `!set:FIELD=VALUE`, the function that
    sets it in each response message -- tried first on an empty response, so
    that a bad one fails before anything is sent; else None."""
    text = getattr(request, DIRECTIVE_FIELD[rpc])
    if not text.startswith("!set:"):
        return None
    _, (path, value) = parse_directive(text)
    output = pb.DESCRIPTOR.services_by_name["AiWorker"].methods_by_name[rpc].output_type
    set_field(getattr(pb, output.name)(), path, value)

    def apply(msg):
        if not isinstance(msg, bytes):
            set_field(msg, path, value)
        return msg
    return apply


def metadata_dict(context):
    md = {}
    for key, value in context.invocation_metadata():
        if key.endswith("-bin"):
            if isinstance(value, str):
                value = value.encode("latin-1")
            value = base64.b64encode(value).decode("ascii")
        md[key] = value if key not in md else md[key] + "," + value
    return md


# gRPC's interop server echoes these request headers back: the first as a
# response header, the second (binary) as a trailer.
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


def echo_metadata(context):
    """Sends the echoed header now; returns the echoed trailers (to be sent
    with the call's other trailers: see Call.send_trailers)."""
    md = context.invocation_metadata()
    initial = [(k, v) for k, v in md if k == ECHO_INITIAL]
    trailing = [(k, v) for k, v in md if k == ECHO_TRAILING]
    try:
        if initial:
            context.send_initial_metadata(initial)
    except grpc.RpcError:
        pass  # the RPC ended already (cancelled while it waited for a worker)
    return trailing


# ---------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------

class Call:
    """Per-RPC bookkeeping: outcome, cancellation, the events line."""

    def __init__(self, server, rpc, context, log=True):
        self.server = server
        self.rpc = rpc
        self.context = context
        self.log = log
        self.done = threading.Event()
        self.finished = False
        self.outcome = "OK"
        self.metadata = metadata_dict(context)
        # Trailers of the response, sent together by send_trailers (grpcio
        # keeps only the last set_trailing_metadata).
        self.trailers = []
        # add_callback refuses (returns False) once the RPC has already ended,
        # e.g. cancelled while it waited for a worker thread: end it now.
        if not context.add_callback(self._on_end):
            self._on_end()
        self.trailers.extend(echo_metadata(context))

    def send_trailers(self):
        md = list(self.trailers)
        if self.server.name is not None:
            md.append(("x-aiw-replica", self.server.name))
        if md:
            try:
                self.context.set_trailing_metadata(md)
            except Exception:
                pass  # the RPC ended already

    def sleep(self, ms):
        """Sleeps ms milliseconds, or less if the RPC ends (client cancelled)."""
        self.done.wait(ms / 1000.0)

    def _on_end(self):
        self.done.set()
        if not self.log:
            return
        cancelled = getattr(getattr(self.context, "_state", None), "client", None) == "cancelled"
        if not self.finished:
            outcome = "CANCELLED"
        elif self.outcome == "OK" and cancelled:
            outcome = "CANCELLED"
        else:
            outcome = self.outcome
        self.server.log_event({"rpc": self.rpc, "outcome": outcome,
                               "request_id": self.metadata.get("x-request-id", ""), "metadata": self.metadata})


class AiWorker:
    def __init__(self, events_path, name=None, health=None):
        self.events_lock = threading.Lock()
        self.events = open(events_path, "a", encoding="utf-8") if events_path else None
        self.name = name
        self.health = health

    def log_event(self, obj):
        if self.events is None:
            return
        if self.name is not None:
            obj["replica"] = self.name
        line = json.dumps(obj, sort_keys=True, ensure_ascii=False)
        with self.events_lock:
            self.events.write(line + "\n")
            self.events.flush()

    # Wrappers: run the body, record the outcome, turn Abort into a status.
    def _unary(self, rpc, body):
        def handler(request, context):
            call = Call(self, rpc, context)
            try:
                setter = response_setter(rpc, request)
                resp = body(request, context, call)
                if setter:
                    resp = setter(resp)
                call.outcome = "OK"
                return resp
            except Abort as e:
                call.outcome = e.code.name
                context.set_code(e.code)
                context.set_details(e.message)
                return None
            finally:
                call.send_trailers()
                call.finished = True
        return handler

    def _stream(self, rpc, body):
        def handler(request, context):
            call = Call(self, rpc, context)
            try:
                setter = response_setter(rpc, request)
                if setter is None:
                    yield from body(request, context, call)
                else:
                    inner = body(request, context, call)
                    try:
                        for msg in inner:
                            yield setter(msg)
                    finally:
                        inner.close()
                call.outcome = "OK"
                call.send_trailers()
                call.finished = True
            except Abort as e:
                call.outcome = e.code.name
                call.send_trailers()
                call.finished = True
                context.set_code(e.code)
                context.set_details(e.message)
        return handler

    # -- ProcessAsset -------------------------------------------------------
    def process_asset(self, request, context, call):
        name, args = common_directive(call, parse_directive(request.asset_id))
        if name:
            if name in ("empty", "garbage"):
                return pb.ProcessStatus() if name == "empty" else GARBAGE
            if name == "nul":
                return pb.ProcessStatus(success=False, error=NUL_ERROR, stage=pb.STAGE_FAILED, progress=0.0)
            if name == "nan":
                return pb.ProcessStatus(success=True, error="", stage=pb.STAGE_PROCESSING, progress=float("nan"))
            if name == "fail":
                return pb.ProcessStatus(success=False, error=args[0], stage=pb.STAGE_FAILED, progress=0.0)
            if name in ("slow", "hold"):
                call.sleep(args[0])
            if name == "health":
                self.health.set_all(args[0])
            if name == "echo":
                o = request.options
                err = ("asset_id=%s;file_path=%s;mime_type=%s;ocr=%d;caption=%d;embedding=%d;summary=%d;"
                       "max_chunk_size=%d;options=%d") % (
                    request.asset_id, request.file_path, request.mime_type, o.enable_ocr, o.enable_caption,
                    o.enable_embedding, o.enable_summary, o.max_chunk_size, request.HasField("options"))
                return pb.ProcessStatus(success=True, error=err, stage=pb.STAGE_PROCESSING, progress=0.5)
        return pb.ProcessStatus(success=True, error="", stage=pb.STAGE_COMPLETED, progress=1.0)

    # -- GetEmbedding -------------------------------------------------------
    def get_embedding(self, request, context, call):
        which = request.WhichOneof("content")
        if which is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "content is required: set text or image")
        if which == "text":
            d = parse_directive(request.text)
            if d and d[0] != "echo":
                name, args = common_directive(call, d)
                if name in ("empty", "garbage"):
                    return pb.EmbeddingResponse() if name == "empty" else GARBAGE
                if name == "nul":
                    return pb.EmbeddingResponse(success=False, error=NUL_ERROR)
                if name == "nan":
                    return pb.EmbeddingResponse(success=True, semantic_vector=NAN_VECTOR,
                                                visual_vector=[float("inf")])
                if name == "fail":
                    return pb.EmbeddingResponse(success=False, error=args[0])
                if name in ("slow", "hold"):
                    call.sleep(args[0])
            data = request.text.encode("utf-8")
        else:
            if request.image.format not in IMAGE_FORMATS:
                return pb.EmbeddingResponse(success=False,
                                            error="unsupported image format: %s" % request.image.format)
            data = request.image.data
        etype = request.type
        if etype == pb.EMBEDDING_UNKNOWN:
            etype = pb.EMBEDDING_SEMANTIC if which == "text" else pb.EMBEDDING_VISUAL
        resp = pb.EmbeddingResponse(success=True)
        if etype in (pb.EMBEDDING_SEMANTIC, pb.EMBEDDING_BOTH):
            resp.semantic_vector.extend(embedding.semantic(data))
        if etype in (pb.EMBEDDING_VISUAL, pb.EMBEDDING_BOTH):
            resp.visual_vector.extend(embedding.visual(data))
        return resp

    # -- VectorSearch -------------------------------------------------------
    def vector_search(self, request, context, call):
        if request.limit < 0:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must be >= 0")
        name, args = common_directive(call, parse_directive(request.query))
        if name:
            if name in ("empty", "garbage"):
                return pb.SearchResponse() if name == "empty" else GARBAGE
            if name == "badkey":
                return BADKEY
            if name == "nul":
                return pb.SearchResponse(results=[nul_result()], total_count=1, success=False, error=NUL_ERROR)
            if name == "nan":
                return pb.SearchResponse(results=nan_results(), total_count=3, success=True)
            if name == "fail":
                return pb.SearchResponse(success=False, error=args[0], total_count=0)
            if name in ("slow", "hold"):
                call.sleep(args[0])
            if name == "big":
                r = pb.SearchResult(asset_id="big", score=1.0, caption="x" * args[0], mime_type="text/plain")
                return pb.SearchResponse(results=[r], total_count=1, success=True)
            if name == "echo":
                md = {"query": request.query, "type": pb.SearchType.Name(request.type),
                      "limit": str(request.limit), "threshold": repr(request.threshold),
                      "filters": "|".join(request.filters)}
                for k, v in call.metadata.items():
                    md["md:" + k] = v
                r = pb.SearchResult(asset_id="echo", score=request.threshold, caption=request.query,
                                    mime_type=pb.SearchType.Name(request.type), metadata=md)
                return pb.SearchResponse(results=[r], total_count=1, success=True)
        hits = search_corpus(SEARCH_KIND.get(request.type, "semantic"), request.threshold, list(request.filters))
        limit = request.limit if request.limit > 0 else DEFAULT_LIMIT
        return pb.SearchResponse(results=[make_result(s, doc) for s, doc in hits[:limit]], total_count=len(hits),
                                 success=True)

    # -- ChatStream ---------------------------------------------------------
    def chat_stream(self, request, context, call):
        name, args = common_directive(call, parse_directive(request.query))
        if name == "empty":
            yield pb.ChatResponse()
            return
        if name == "garbage":
            yield pb.ChatResponse(chunk="before garbage ")
            yield GARBAGE
            return
        if name == "garbage-mid":
            yield pb.ChatResponse(chunk="before garbage ")
            yield GARBAGE
            yield pb.ChatResponse(chunk="after garbage 1 ")
            yield pb.ChatResponse(chunk="after garbage 2 ", is_final=True)
            return
        if name == "nul":
            yield pb.ChatResponse(chunk="before\0after ")
            yield pb.ChatResponse(chunk="second\0chunk", is_final=True, sources=[nul_result()])
            return
        if name == "nan":
            yield pb.ChatResponse(chunk="nan ")
            yield pb.ChatResponse(chunk="", is_final=True, sources=nan_results())
            return
        if name == "many":
            for i in range(args[0]):
                yield pb.ChatResponse(chunk="chunk-%d " % i)
            yield pb.ChatResponse(chunk="", is_final=True, sources=chat_sources(request.options))
            return
        if name == "count":
            for i in range(args[0]):
                yield pb.ChatResponse(chunk="chunk-%d " % i)
            return
        if name == "sizes":
            for n in args:
                yield pb.ChatResponse(chunk="x" * n)
            return
        if name == "error-after":
            n, code, message = args
            for i in range(n):
                yield pb.ChatResponse(chunk="chunk-%d " % i)
            raise Abort(code, message)
        if name == "big":
            yield pb.ChatResponse(chunk="x" * args[0])
            yield pb.ChatResponse(chunk="", is_final=True, sources=chat_sources(request.options))
            return
        if name == "echo":
            for m in request.history:
                yield pb.ChatResponse(chunk="%s|%s|%d\n" % (m.role, m.content, m.timestamp))
            o = request.options
            text = "options:max_context_docs=%d,similarity_threshold=%s,include_images=%d,stream_response=%d" % (
                o.max_context_docs, repr(o.similarity_threshold), o.include_images, o.stream_response)
            md = {"query": request.query, "history": str(len(request.history)),
                  "options": str(int(request.HasField("options")))}
            for k, v in call.metadata.items():
                md["md:" + k] = v
            src = pb.SearchResult(asset_id="echo", score=1.0, caption=request.query, mime_type="text/plain",
                                  metadata=md)
            yield pb.ChatResponse(chunk=text, is_final=True, sources=[src])
            return
        if name == "hold":
            call.sleep(args[0])
            if call.done.is_set():
                return
        chunks = chat_chunks(request.query)
        for i, text in enumerate(chunks):
            if name == "slow":
                call.sleep(args[0])
                if call.done.is_set():
                    return
            if i == len(chunks) - 1:
                yield pb.ChatResponse(chunk=text, is_final=True, sources=chat_sources(request.options))
            else:
                yield pb.ChatResponse(chunk=text)


# ---------------------------------------------------------------------------
# Health (grpc.health.v1, idl/health.proto): Debian's grpcio has no grpc_health
# ---------------------------------------------------------------------------

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
HEALTH_SERVICES = ("", "ai_service.AiWorker")


class Health(health_pb2_grpc.HealthServicer):
    def __init__(self, worker, serving):
        self.worker = worker
        self.cond = threading.Condition()
        self.status = {name: SERVING if serving else NOT_SERVING for name in HEALTH_SERVICES}

    def set_all(self, status):
        with self.cond:
            for name in self.status:
                self.status[name] = status
            self.cond.notify_all()

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def Check(self, request, context):
        call = Call(self.worker, "Check", context, log=False)
        try:
            with self.cond:
                status = self.status.get(request.service)
            if status is None:
                context.set_code(grpc.StatusCode.NOT_FOUND)
                context.set_details("unknown service")
                return None
            return health_pb2.HealthCheckResponse(status=status)
        finally:
            call.send_trailers()
            call.finished = True

    def Watch(self, request, context):
        call = Call(self.worker, "Watch", context, log=False)
        context.add_callback(self.wake)  # ends the wait below when the call ends
        try:
            sent = None
            while True:
                with self.cond:
                    while True:
                        status = self.status.get(request.service, SERVICE_UNKNOWN)
                        if status != sent or call.done.is_set():
                            break
                        self.cond.wait(1.0)
                if call.done.is_set():
                    return
                sent = status
                yield health_pb2.HealthCheckResponse(status=status)
        finally:
            call.send_trailers()
            call.finished = True


RPCS = ("ProcessAsset", "ChatStream", "GetEmbedding", "VectorSearch")


def build_handler(worker, disabled):
    handlers = {}
    if "ProcessAsset" not in disabled:
        handlers["ProcessAsset"] = grpc.unary_unary_rpc_method_handler(
            worker._unary("ProcessAsset", worker.process_asset),
            request_deserializer=pb.AssetRequest.FromString,
            response_serializer=serialize)
    if "ChatStream" not in disabled:
        handlers["ChatStream"] = grpc.unary_stream_rpc_method_handler(
            worker._stream("ChatStream", worker.chat_stream),
            request_deserializer=pb.ChatRequest.FromString,
            response_serializer=serialize)
    if "GetEmbedding" not in disabled:
        handlers["GetEmbedding"] = grpc.unary_unary_rpc_method_handler(
            worker._unary("GetEmbedding", worker.get_embedding),
            request_deserializer=pb.EmbeddingRequest.FromString,
            response_serializer=serialize)
    if "VectorSearch" not in disabled:
        handlers["VectorSearch"] = grpc.unary_unary_rpc_method_handler(
            worker._unary("VectorSearch", worker.vector_search),
            request_deserializer=pb.SearchRequest.FromString,
            response_serializer=serialize)
    return grpc.method_handlers_generic_handler("ai_service.AiWorker", handlers)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference ai_service.AiWorker for tests (see README.md).")
    ap.add_argument("--port", type=int, default=50051, help="TCP port, 0 = pick a free one (printed)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--events", metavar="FILE", help="append one JSON line per finished RPC to FILE")
    ap.add_argument("--workers", type=int, default=64, help="handler threads (default 64)")
    ap.add_argument("--disable", metavar="RPC", action="append", default=[], choices=RPCS,
                    help="leave RPC unregistered (calls get UNIMPLEMENTED); repeatable")
    ap.add_argument("--no-chat", action="store_true", help="same as --disable ChatStream")
    ap.add_argument("--exit-with-stdin", action="store_true",
                    help="stop when standard input reaches EOF (a parent's lifeline pipe)")
    ap.add_argument("--name", metavar="NAME",
                    help="replica name: trailer x-aiw-replica on every response, \"replica\" in events")
    ap.add_argument("--not-serving", action="store_true", help="health starts NOT_SERVING (default SERVING)")
    ap.add_argument("--gzip", action="store_true", help="compress responses with gzip")
    ap.add_argument("--reject-compressed-requests", action="store_true",
                    help="only the identity encoding is enabled: compressed requests get UNIMPLEMENTED")
    ap.add_argument("--min-ping-interval-ms", type=int, metavar="MS",
                    help="grpc.http2.min_ping_interval_without_data_ms")
    ap.add_argument("--permit-keepalive-without-calls", action="store_true",
                    help="grpc.keepalive_permit_without_calls = 1")
    ap.add_argument("--max-ping-strikes", type=int, metavar="N", help="grpc.http2.max_ping_strikes")
    args = ap.parse_args(argv)
    if args.name is not None and not all(0x20 <= ord(c) <= 0x7E for c in args.name):
        ap.error("--name must be printable ASCII (a metadata value)")
    if args.gzip and args.reject_compressed_requests:
        ap.error("--gzip and --reject-compressed-requests exclude each other (one set of enabled encodings)")
    disabled = set(args.disable)
    if args.no_chat:
        disabled.add("ChatStream")

    worker = AiWorker(args.events, args.name)
    health = worker.health = Health(worker, not args.not_serving)
    options = [("grpc.max_send_message_length", MAX_MESSAGE),
               ("grpc.max_receive_message_length", MAX_MESSAGE),
               ("grpc.so_reuseport", 0)]
    if args.reject_compressed_requests:
        options.append(("grpc.compression_enabled_algorithms_bitset", 1))  # identity only
    if args.min_ping_interval_ms is not None:
        options.append(("grpc.http2.min_ping_interval_without_data_ms", args.min_ping_interval_ms))
    if args.permit_keepalive_without_calls:
        options.append(("grpc.keepalive_permit_without_calls", 1))
    if args.max_ping_strikes is not None:
        options.append(("grpc.http2.max_ping_strikes", args.max_ping_strikes))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         handlers=[build_handler(worker, disabled)], options=options,
                         compression=grpc.Compression.Gzip if args.gzip else None)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    host = args.host
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    port = server.add_insecure_port("%s:%d" % (host, args.port))
    if port == 0:
        print("ai_worker_server: cannot bind %s:%d" % (args.host, args.port), file=sys.stderr)
        return 1
    stop = threading.Event()
    # Python runs signal handlers on the main thread only, and only once it
    # runs Python code again; a signal delivered to one of gRPC's threads does
    # not interrupt the main thread's wait. The wakeup fd does: the C-level
    # handler writes the signal number to it, which ends the select below.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: health.set_all(NOT_SERVING))
    signal.signal(signal.SIGUSR2, lambda *_: health.set_all(SERVING))
    # A parent may have spawned us with these blocked (seen under valgrind).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2})
    if args.exit_with_stdin:
        def watch_stdin():
            # Raw reads: a daemon thread blocked in a buffered read would
            # abort the interpreter at shutdown.
            while os.read(0, 65536):
                pass
            stop.set()
            try:
                os.write(wake_w, b"\0")
            except OSError:
                pass
        threading.Thread(target=watch_stdin, daemon=True).start()
    server.start()
    sys.stdout.write("LISTENING %d\n" % port)
    sys.stdout.flush()
    while not stop.is_set():
        try:
            select.select([wake_r], [], [], 1.0)
            while os.read(wake_r, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass
    server.stop(grace=0.2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
