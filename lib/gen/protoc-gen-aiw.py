#!/usr/bin/python3
"""protoc-gen-aiw: libaiw's C message layer, generated from idl/ai_service.proto.

A protoc plugin on Debian's python3-protobuf. lib/lib.mk runs it from the top
of the tree whenever the .proto (or this file, or lib/message_rules.c)
changes:

    protoc -Iidl --plugin=protoc-gen-aiw=lib/gen/protoc-gen-aiw.py \
           --aiw_out=build/gen/aiw --aiw_opt=version=$(LIB_VERSION) idl/ai_service.proto

and copies into the tree the files whose content changed:

    lib/messages.gen.c        each message's constructor, free, setters, getters
    include/aiw.h             the blocks between "BEGIN GENERATED x" and
                              "END GENERATED x" (declarations, comments)
    lib/symbols.txt           one line per new symbol, "since" LIB_VERSION
    lib/libaiw.map            each new symbol in the node of its version
    examples/aiw/json.gen.c   the CLI's proto3 JSON of every response message
    examples/aiw/json.gen.h

It reads the current include/aiw.h, lib/symbols.txt, lib/libaiw.map and
lib/message_rules.c (the hand-written rules) from the working directory.
The naming rule, and what stays hand-written, are in docs/CONVENTIONS.md
("Adding a field or an RPC"). Anything the rule does not cover is refused
with an error naming the field, never generated half-way.
"""

import os
import re
import shutil
import subprocess
import sys

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

F = descriptor_pb2.FieldDescriptorProto

HEADER, SYMBOLS, MAPFILE, RULES = "include/aiw.h", "lib/symbols.txt", "lib/libaiw.map", "lib/message_rules.c"
OUT_C, OUT_JSON_C, OUT_JSON_H = "lib/messages.gen.c", "examples/aiw/json.gen.c", "examples/aiw/json.gen.h"
GENERATED_BY = "lib/gen/protoc-gen-aiw.py from idl/ai_service.proto"


class GenError(Exception):
    pass


# ---- names -------------------------------------------------------------------


def snake(name):
    """Our C names: SearchResult -> search_result, HTTPStatus -> http_status."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def pbc_lower(name):
    """protobuf-c's CamelToLower (descriptor and function names)."""
    out, was_upper = "", True
    for c in name:
        if c.isupper():
            out += ("" if was_upper else "_") + c.lower()
            was_upper = True
        else:
            out += c
            was_upper = False
    return out


def pbc_camel(name):
    """protobuf-c's ToCamel (a package part: ai_service -> AiService)."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def singular(name):
    """The element of a repeated field: results -> result, entries -> entry,
    history -> history (a name without a plural s stays as it is)."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


def last_word(snake_name):
    return snake_name.rsplit("_", 1)[-1]


# ---- the schema ----------------------------------------------------------------

SCALAR = {  # proto type -> (kind, C type)
    F.TYPE_BOOL: ("bool", "int"),
    F.TYPE_INT32: ("int32", "int32_t"), F.TYPE_SINT32: ("int32", "int32_t"), F.TYPE_SFIXED32: ("int32", "int32_t"),
    F.TYPE_INT64: ("int64", "int64_t"), F.TYPE_SINT64: ("int64", "int64_t"), F.TYPE_SFIXED64: ("int64", "int64_t"),
    F.TYPE_UINT32: ("uint32", "uint32_t"), F.TYPE_FIXED32: ("uint32", "uint32_t"),
    F.TYPE_UINT64: ("uint64", "uint64_t"), F.TYPE_FIXED64: ("uint64", "uint64_t"),
    F.TYPE_FLOAT: ("float", "float"), F.TYPE_DOUBLE: ("double", "double"),
}
NUMERIC = ("int32", "int64", "uint32", "uint64", "float", "double")


def comment_text(loc):
    if loc is None:
        return ""
    text = (loc.leading_comments or "") + " " + (loc.trailing_comments or "")
    return " ".join(text.split())


class Enum:
    def __init__(self, proto, full, cname, lower, locs, path):
        self.proto, self.full, self.name = proto, full, proto.name
        self.snake = snake(proto.name)
        self.ctype = "aiw_" + self.snake  # aiw_processing_stage
        self.pbc_type = cname  # AiService__ProcessingStage
        self.descriptor = lower + "__descriptor"
        self.values = [(v.name, v.number, comment_text(locs.get(tuple(path + [2, i]))))
                       for i, v in enumerate(proto.value)]
        zero = [v for v in proto.value if v.number == 0]
        self.zero = "AIW_" + zero[0].name if zero else "(%s)0" % self.ctype


class Field:
    def __init__(self, msg, proto, comment):
        self.msg, self.proto, self.name, self.number = msg, proto, proto.name, proto.number
        self.json = proto.json_name or proto.name
        self.comment = comment
        self.repeated = proto.label == F.LABEL_REPEATED
        self.oneof = proto.oneof_index if proto.HasField("oneof_index") else None
        if proto.proto3_optional:
            raise GenError("%s.%s: proto3 `optional` is not supported by protoc-gen-aiw" % (msg.name, self.name))
        self.enum = self.message = None
        if proto.type in SCALAR:
            self.kind, self.ctype = SCALAR[proto.type]
        elif proto.type == F.TYPE_STRING:
            self.kind, self.ctype = "string", "const char *"
        elif proto.type == F.TYPE_BYTES:
            self.kind, self.ctype = "bytes", "const void *"
        elif proto.type == F.TYPE_ENUM:
            self.kind = "enum"
        elif proto.type == F.TYPE_MESSAGE:
            self.kind = "message"
        else:
            raise GenError("%s.%s: field type %d (groups) is not supported" % (msg.name, self.name, proto.type))

    def resolve(self, schema):
        if self.kind == "enum":
            self.enum = schema.enums[self.proto.type_name]
            self.ctype = self.enum.ctype
        elif self.kind == "message":
            self.message = schema.messages[self.proto.type_name]

    @property
    def is_map(self):
        return self.kind == "message" and self.repeated and self.message.map_entry

    def where(self):
        return "%s.%s" % (self.msg.name, self.name)


class Message:
    def __init__(self, proto, full, cname, lower, api_snake, comment):
        self.proto, self.full, self.name = proto, full, proto.name
        self.pbc_type = cname  # AiService__SearchResult
        self.descriptor = lower + "__descriptor"
        self.snake = api_snake  # search_result
        self.handle = "aiw_" + api_snake  # aiw_search_result
        self.map_entry = proto.options.map_entry
        self.comment = comment
        self.fields = []
        self.oneofs = [o.name for o in proto.oneof_decl]
        self.role = None  # "request", "response", "result" (borrowed) or None (no handle)
        self.rpc = None  # the method whose request or response it is
        self.param = None  # the handle's parameter name in declarations

    def field(self, name):
        return next(f for f in self.fields if f.name == name)


class Schema:
    def __init__(self, fd):
        if fd.syntax != "proto3":
            raise GenError("%s: only proto3 is supported" % fd.name)
        self.file = fd
        self.package = fd.package
        pkg_c = "__".join(pbc_camel(p) for p in fd.package.split(".")) if fd.package else ""
        pkg_lower = "__".join(fd.package.split(".")) if fd.package else ""
        locs = {tuple(loc.path): loc for loc in fd.source_code_info.location}
        self.enums, self.messages, self.order = {}, {}, []
        prefix = "." + fd.package if fd.package else ""

        def add_enum(proto, path, scope_full, scope_c, scope_lower):
            full = scope_full + "." + proto.name
            self.enums[full] = Enum(proto, full, scope_c + "__" + proto.name,
                                    scope_lower + "__" + pbc_lower(proto.name), locs, path)

        def add_message(proto, path, scope_full, scope_c, scope_lower, api_scope):
            full = scope_full + "." + proto.name
            cname, lower = scope_c + "__" + proto.name, scope_lower + "__" + pbc_lower(proto.name)
            api = (api_scope + "_" if api_scope else "") + snake(proto.name)
            m = Message(proto, full, cname, lower, api, comment_text(locs.get(tuple(path))))
            self.messages[full] = m
            self.order.append(m)
            for i, fp in enumerate(proto.field):
                m.fields.append(Field(m, fp, comment_text(locs.get(tuple(path + [2, i])))))
            for i, e in enumerate(proto.enum_type):
                add_enum(e, path + [4, i], full, cname, lower)
            for i, n in enumerate(proto.nested_type):
                add_message(n, path + [3, i], full, cname, lower, api)

        for i, e in enumerate(fd.enum_type):
            add_enum(e, [5, i], prefix, pkg_c, pkg_lower)
        for i, mp in enumerate(fd.message_type):
            add_message(mp, [4, i], prefix, pkg_c, pkg_lower, "")
        for m in self.order:
            for f in m.fields:
                f.resolve(self)
        if len(fd.service) != 1:
            raise GenError("%s: exactly one service expected" % fd.name)
        self.service = fd.service[0]
        self.methods = []
        for mp in self.service.method:
            if mp.client_streaming:
                raise GenError("%s: client streaming is not supported" % mp.name)
            self.methods.append((mp.name, self.messages[mp.input_type], self.messages[mp.output_type],
                                 mp.server_streaming))
        self.assign_roles()

    def assign_roles(self):
        for name, req, resp, _ in self.methods:
            for m, role in ((req, "request"), (resp, "response")):
                if m.role not in (None, role):
                    raise GenError("%s is both a request and a response" % m.name)
                m.role = role
                m.rpc = m.rpc or name
        # Messages reachable from a response through message fields are
        # borrowed from it ("result"); they get getters, no free.
        todo = [m for m in self.order if m.role == "response"]
        while todo:
            m = todo.pop()
            for f in m.fields:
                sub = f.message
                if sub is None:
                    continue
                if sub.map_entry:
                    continue
                if sub.role is None:
                    sub.role = "result"
                    todo.append(sub)
                elif sub.role == "request":
                    raise GenError("%s: a request message inside a response" % f.where())
        for m in self.order:
            if m.role == "request":
                m.param = "req"
            elif m.role:
                m.param = last_word(m.snake)
        self.enum_list = list(self.enums.values())

    def handles(self):
        return [m for m in self.order if m.role]


# ---- C functions -----------------------------------------------------------------


class Fn:
    """One public function: what aiw.h declares, what messages.gen.c defines,
    what the CLI's JSON reads."""

    def __init__(self, name, ret, params, body):
        self.name, self.ret, self.params, self.body = name, ret, params, body
        self.fields = None  # an add_<singular>: the sub-message's fields it takes

    def signature(self):
        ps = ", ".join(join_type(t, n) for t, n in self.params) or "void"
        return "%s(%s)" % (join_type(self.ret, self.name), ps)


def join_type(ctype, name):
    return ctype + name if ctype.endswith("*") else ctype + " " + name


class Layer:
    """The C message layer of a schema: functions in declaration order,
    grouped for aiw.h's comment blocks."""

    def __init__(self, schema, declared=None):
        self.schema = schema
        # What aiw.h declares today: function -> parameter names. A
        # function's signature is ABI: it never changes once it exists.
        self.declared = declared or {}
        self.groups = []  # (block key, comment paragraphs, [Fn])
        self.fns = {}
        self.json = []  # (message, [(kind, JSON name, getter names...)]): json.gen.c
        self.enum_group()
        for m in schema.handles():
            if m.role == "request":
                self.request(m)
            else:
                self.response(m)
        for name, req, resp, streaming in schema.methods:
            if not streaming:
                self.unary(name, req, resp)

    def add(self, fns, f):
        if f.name in self.fns:
            raise GenError("two fields give the C name %s: rename one in the .proto" % f.name)
        self.fns[f.name] = f
        fns.append(f)
        return f

    # -- enums
    def enum_group(self):
        fns = []
        for e in self.schema.enum_list:
            param = last_word(e.snake)
            self.add(fns, Fn(e.ctype + "_name", "const char *", [("int", param)],
                             ["return aiw__enum_name(&%s, %s);" % (e.descriptor, param)]))
        if fns:
            names = " / ".join(f.name for f in fns)
            examples = ", ".join('"%s"' % e.values[-1][0] for e in self.schema.enum_list if e.values)
            self.groups.append(("types", [
                "%s: the proto enum value name (%s); NULL for a value the contract does not define. Static "
                "strings; any thread." % (names, examples)], fns))

    # -- requests
    def request(self, m):
        fns, notes = [], []
        cast = "%s *m = (%s *)%s;" % (m.pbc_type, m.pbc_type, m.param)
        handle = [("%s *" % m.handle, m.param)]
        self.add(fns, Fn(m.handle + "_new", m.handle + " *", [], ["return aiw__message_new(&%s);" % m.descriptor]))
        self.add(fns, Fn(m.handle + "_free", "void", handle, ["aiw__message_free((ProtobufCMessage *)%s);" % m.param]))
        has_nan = has_enum = False
        for f in m.fields:
            if f.oneof is not None:
                note = "The oneof %s (%s) has hand-written setters (below)." % (
                    m.oneofs[f.oneof], ", ".join(g.name for g in m.fields if g.oneof == f.oneof))
                if note not in notes:
                    notes.append(note)
                continue
            if f.is_map:
                raise GenError("%s: a map in a request is not supported by protoc-gen-aiw" % f.where())
            if f.kind == "message" and not f.repeated:
                sub = f.message
                notes.append("The fields of %s (%s) are set on the request itself; %s is sent once one of them "
                             "was set." % (f.name, sub.name, f.name))
                for g in sub.fields:
                    self.check_flat(g, f)
                    has_nan |= g.kind in ("float", "double")
                    has_enum |= g.kind == "enum"
                    self.add(fns, self.sub_setter(m, f, g, cast, handle))
                continue
            if f.kind == "message":
                sub = f.message
                for g in sub.fields:
                    self.check_flat(g, f)
                    has_nan |= g.kind in ("float", "double")
                    has_enum |= g.kind == "enum"
                one = singular(f.name)
                add = self.add(fns, self.add_message(m, f, cast, handle))
                later = [g for g in sub.fields if g not in add.fields]
                notes.append("%s_add_%s appends a %s (%s); %s_clear_%s empties %s." % (
                    m.handle, one, sub.name, ", ".join(g.name for g in add.fields), m.handle, f.name, f.name))
                if later:
                    notes.append("%s fields added since %s_add_%s was published are set on the last %s added, "
                                 "with %s_set_%s_<field> (INVALID_ARGUMENT when none was)." % (
                                     sub.name, m.handle, one, one, m.handle, one))
                for g in later:
                    self.add(fns, self.last_setter(m, f, g, cast, handle))
                self.add(fns, self.clear(m, f, cast, handle))
                continue
            has_nan |= f.kind in ("float", "double")
            has_enum |= f.kind == "enum"
            if f.repeated:
                one = singular(f.name)
                notes.append("%s_add_%s appends to %s; %s_clear_%s empties it." % (
                    m.handle, one, f.name, m.handle, f.name))
                self.add(fns, self.add_scalar(m, f, cast, handle))
                self.add(fns, self.clear(m, f, cast, handle))
            else:
                self.add(fns, self.setter(m, f, cast, handle))
        checks = []
        if has_nan:
            checks.append("a NaN float")
        if has_enum:
            checks.append("an enum value outside the contract")
        head = ("%s (%s), the request of %s: %s_new makes an empty one (NULL if out of memory); free it with "
                "%s_free (NULL-safe). Setters as above%s. One thread at a time; a request may be shared "
                "read-only by concurrent calls." % (
                    m.name, m.full[1:], m.rpc, m.handle, m.handle,
                    (" (%s %s INVALID_ARGUMENT too)" % (" and ".join(checks), "are" if len(checks) > 1 else "is"))
                    if checks else ""))
        self.groups.append((m.rpc, [head] + notes + self.field_notes(m), fns))

    def check_flat(self, g, f):
        if g.repeated or g.kind == "message" or g.oneof is not None:
            raise GenError("%s: %s.%s cannot be flattened into the request (only plain fields can)" % (
                f.where(), g.msg.name, g.name))

    def value_checks(self, f, param):
        """Conditions under which a value is refused, and its conversion."""
        if f.kind in ("float", "double"):
            return ["isnan(%s)" % param], param
        if f.kind == "enum":
            return ["!aiw__enum_valid(&%s, (int)%s)" % (f.enum.descriptor, param)], "(%s)%s" % (f.enum.pbc_type, param)
        if f.kind == "bool":
            return [], "%s != 0" % param
        return [], param

    def setter(self, m, f, cast, handle):
        name = "%s_set_%s" % (m.handle, f.name)
        if f.kind == "string":
            return Fn(name, "aiw_code", handle + [("const char *", f.name)],
                      [cast, "return m ? aiw__set_string(&m->%s, %s) : AIW_INVALID_ARGUMENT;" % (f.name, f.name)])
        if f.kind == "bytes":
            return Fn(name, "aiw_code", handle + [("const void *", "data"), ("size_t", "len")],
                      [cast, "return m ? aiw__set_bytes(&m->%s, data, len) : AIW_INVALID_ARGUMENT;" % f.name])
        bad, value = self.value_checks(f, f.name)
        return Fn(name, "aiw_code", handle + [(f.ctype, f.name)],
                  [cast, "if (%s) return AIW_INVALID_ARGUMENT;" % " || ".join(["!m"] + bad),
                   "m->%s = %s;" % (f.name, value), "return AIW_OK;"])

    def sub_setter(self, m, f, g, cast, handle):
        """A field of a singular sub-message (options), set on the request."""
        name = "%s_set_%s" % (m.handle, g.name)
        sub = f.message
        make = "if (!m->%s && !(m->%s = aiw__message_new(&%s))) return AIW_OUT_OF_MEMORY;" % (
            f.name, f.name, sub.descriptor)
        if g.kind in ("string", "bytes"):
            params = [("const char *", g.name)] if g.kind == "string" else [("const void *", "data"), ("size_t", "len")]
            call = ("aiw__set_string(&m->%s->%s, %s)" % (f.name, g.name, g.name) if g.kind == "string"
                    else "aiw__set_bytes(&m->%s->%s, data, len)" % (f.name, g.name))
            # A failed copy leaves the request as it was: without the
            # sub-message if this call created it.
            return Fn(name, "aiw_code", handle + params, [
                cast, "if (!m) return AIW_INVALID_ARGUMENT;", "int fresh = !m->%s;" % f.name, make,
                "aiw_code rc = %s;" % call,
                "if (rc != AIW_OK && fresh) {", "  aiw__message_free(&m->%s->base);" % f.name,
                "  m->%s = NULL;" % f.name, "}", "return rc;"])
        bad, value = self.value_checks(g, g.name)
        return Fn(name, "aiw_code", handle + [(g.ctype, g.name)], [
            cast, "if (%s) return AIW_INVALID_ARGUMENT;" % " || ".join(["!m"] + bad), make,
            "m->%s->%s = %s;" % (f.name, g.name, value), "return AIW_OK;"])

    def add_scalar(self, m, f, cast, handle):
        one = singular(f.name)
        name = "%s_add_%s" % (m.handle, one)
        if f.kind == "string":
            return Fn(name, "aiw_code", handle + [("const char *", one)], [
                cast, "return m ? aiw__append_string(&m->%s, &m->n_%s, %s) : AIW_INVALID_ARGUMENT;" % (
                    f.name, f.name, one)])
        if f.kind == "bytes":
            raise GenError("%s: repeated bytes in a request is not supported" % f.where())
        bad, value = self.value_checks(f, one)
        elem = f.enum.pbc_type if f.kind == "enum" else ("protobuf_c_boolean" if f.kind == "bool" else f.ctype)
        return Fn(name, "aiw_code", handle + [(f.ctype, one)], [
            cast, "if (%s) return AIW_INVALID_ARGUMENT;" % " || ".join(["!m"] + bad),
            "%s *grown = realloc(m->%s, (m->n_%s + 1) * sizeof *grown);" % (elem, f.name, f.name),
            "if (!grown) return AIW_OUT_OF_MEMORY;", "grown[m->n_%s++] = %s;" % (f.name, value),
            "m->%s = grown;" % f.name, "return AIW_OK;"])

    def add_message(self, m, f, cast, handle):
        """A repeated sub-message (history): one call with all its fields --
        those it had when the function first appeared in aiw.h, whose
        parameters are ABI (a field added later gets last_setter)."""
        sub, one = f.message, singular(f.name)
        name = "%s_add_%s" % (m.handle, one)
        fields = sub.fields
        if name in self.declared:
            names = [p for p in self.declared[name][1:] if not p.endswith("_len")]
            try:
                fields = [sub.field(n) for n in names]
            except StopIteration:
                raise GenError("%s: aiw.h declares %s(%s), whose parameters are not fields of %s" % (
                    f.where(), name, ", ".join(self.declared[name]), sub.name))
        params, body, bad, assign = [], [cast], ["!m"], []
        for g in fields:
            if g.kind == "bytes":
                params += [("const void *", g.name), ("size_t", g.name + "_len")]
            else:
                params.append((g.ctype, g.name))
            if g.kind not in ("string", "bytes"):
                b, value = self.value_checks(g, g.name)
                bad += b
                assign.append("e->%s = %s;" % (g.name, value))
        body.append("if (%s) return AIW_INVALID_ARGUMENT;" % " || ".join(bad))
        body += ["%s *e = aiw__message_new(&%s);" % (sub.pbc_type, sub.descriptor),
                 "if (!e) return AIW_OUT_OF_MEMORY;", "aiw_code rc = AIW_OK;"]
        for g in fields:
            if g.kind == "string":
                body.append("if (rc == AIW_OK) rc = aiw__set_string(&e->%s, %s);" % (g.name, g.name))
            elif g.kind == "bytes":
                body.append("if (rc == AIW_OK) rc = aiw__set_bytes(&e->%s, %s, %s_len);" % (g.name, g.name, g.name))
        body += ["%s **grown = NULL;" % sub.pbc_type,
                 "if (rc == AIW_OK && !(grown = realloc(m->%s, (m->n_%s + 1) * sizeof *grown))) "
                 "rc = AIW_OUT_OF_MEMORY;" % (f.name, f.name),
                 "if (rc != AIW_OK) {", "  aiw__message_free(&e->base);", "  return rc;", "}"]
        body += assign + ["grown[m->n_%s++] = e;" % f.name, "m->%s = grown;" % f.name, "return AIW_OK;"]
        fn = Fn(name, "aiw_code", handle + params, body)
        fn.fields = fields
        return fn

    def last_setter(self, m, f, g, cast, handle):
        """A field of the last element of a repeated sub-message."""
        one = singular(f.name)
        name = "%s_set_%s_%s" % (m.handle, one, g.name)
        last = "m->%s[m->n_%s - 1]" % (f.name, f.name)
        if g.kind == "string":
            return Fn(name, "aiw_code", handle + [("const char *", g.name)], [
                cast, "if (!m || !m->n_%s) return AIW_INVALID_ARGUMENT;" % f.name,
                "return aiw__set_string(&%s->%s, %s);" % (last, g.name, g.name)])
        if g.kind == "bytes":
            return Fn(name, "aiw_code", handle + [("const void *", "data"), ("size_t", "len")], [
                cast, "if (!m || !m->n_%s) return AIW_INVALID_ARGUMENT;" % f.name,
                "return aiw__set_bytes(&%s->%s, data, len);" % (last, g.name)])
        bad, value = self.value_checks(g, g.name)
        return Fn(name, "aiw_code", handle + [(g.ctype, g.name)], [
            cast, "if (%s) return AIW_INVALID_ARGUMENT;" % " || ".join(["!m", "!m->n_%s" % f.name] + bad),
            "%s->%s = %s;" % (last, g.name, value), "return AIW_OK;"])

    def clear(self, m, f, cast, handle):
        if f.kind == "message":
            each = "aiw__message_free(&m->%s[i]->base);" % f.name
        elif f.kind == "string":
            each = "aiw__free_string(m->%s[i]);" % f.name
        else:
            each = None
        body = [cast, "if (!m) return;"]
        if each:
            body.append("for (size_t i = 0; i < m->n_%s; i++) %s" % (f.name, each))
        body += ["free(m->%s);" % f.name, "m->%s = NULL;" % f.name, "m->n_%s = 0;" % f.name]
        return Fn("%s_clear_%s" % (m.handle, f.name), "void", handle, body)

    # -- unary RPCs (a streaming one's entry points are hand-written: its
    # callback's type says what a message is to the caller)
    def unary(self, rpc, req, resp):
        fn = "aiw_" + snake(rpc)
        method = "AIW_METHOD_" + snake(rpc).upper()
        args = [("aiw_client *", "client"), ("const %s *" % req.handle, "req"), ("const aiw_call_options *", "opts")]
        fns = [self.add([], Fn(fn, "aiw_code", args + [("%s **" % resp.handle, "out"), ("aiw_error *", "err")], [
            "ProtobufCMessage *msg = NULL;",
            'aiw_code rc = aiw__unary(client, %s, req, opts, out ? &msg : NULL, "%s", err);' % (method, fn),
            "if (out) *out = (%s *)msg;" % resp.handle, "return rc;"])),
            self.add([], Fn(fn + "_start", "aiw_code", args + [("aiw_queue *", "queue"), ("void *", "tag"),
                                                                ("aiw_error *", "err")], [
                'return aiw__unary_start(client, %s, req, opts, queue, tag, "%s_start", err);' % (method, fn)]))]
        self.groups.append((rpc, [
            "%s: the %s RPC, blocking. `opts` may be NULL. On AIW_OK and AIW_SERVICE_ERROR, *out owns the "
            "response (free with %s_free); on any other code *out is NULL. %s_start: the same on a queue (see "
            "Asynchronous unary calls). Any thread." % (fn, rpc, resp.handle, fn)], fns))

    # -- responses and the messages borrowed from them
    def response(self, m):
        fns, notes, json = [], [], []
        p = m.param
        cast = "const %s *m = (const %s *)%s;" % (m.pbc_type, m.pbc_type, p)
        handle = [("const %s *" % m.handle, p)]
        base = m.handle + "_"
        kinds = set()
        for f in m.fields:
            if f.oneof is not None:
                raise GenError("%s: a oneof in a response is not supported by protoc-gen-aiw" % f.where())
            if f.kind == "double":
                raise GenError("%s: double in a response is not supported yet: the CLI's JSON (jansson, 9 digits "
                               "for float32) cannot print one exactly (examples/aiw/json_out.c)" % f.where())
            name = base + f.name
            jn = f.json
            if f.is_map:
                self.map_getters(m, f, fns, json, cast, handle)
                kinds.add("map")
                continue
            if f.repeated:
                one = singular(f.name)
                if f.kind == "message":
                    sub = f.message
                    count = self.add(fns, Fn(base + one + "_count", "size_t", handle,
                                             [cast, "return m ? m->n_%s : 0;" % f.name]))
                    at = self.add(fns, Fn(base + one, "const %s *" % sub.handle, handle + [("size_t", "i")], [
                        cast, "if (!m || i >= m->n_%s) return NULL;" % f.name,
                        "return (const %s *)m->%s[i];" % (sub.handle, f.name)]))
                    json.append(("array", jn, count.name, "aiwj_%s(%s(owner, i))" % (sub.snake, at.name)))
                    kinds.add("list")
                elif f.kind == "string":
                    count = self.add(fns, Fn(base + one + "_count", "size_t", handle,
                                             [cast, "return m ? m->n_%s : 0;" % f.name]))
                    self.add(fns, Fn(base + one, "const char *", handle + [("size_t", "i")], [
                        cast, "if (!m || i >= m->n_%s) return NULL;" % f.name, "return m->%s[i];" % f.name]))
                    wl = self.add(fns, Fn(base + one + "_with_len", "const char *",
                                          handle + [("size_t", "i"), ("size_t *", "len")], [
                        cast, "if (len) *len = 0;", "if (!m || i >= m->n_%s) return NULL;" % f.name,
                        "return aiw__string_with_len(m->%s[i], len);" % f.name]))
                    json.append(("array_string", jn, count.name, wl.name))
                    kinds.add("list")
                elif f.kind in NUMERIC:
                    fn = self.add(fns, Fn(name, "const %s *" % f.ctype, handle + [("size_t *", "len")], [
                        cast, "size_t n = m ? m->n_%s : 0;" % f.name, "if (len) *len = n;",
                        "return n ? m->%s : NULL;" % f.name]))
                    json.append(("vector", jn, fn.name, f.kind))
                    kinds.add("vector")
                else:
                    raise GenError("%s: repeated %s in a response is not supported by protoc-gen-aiw" % (
                        f.where(), f.kind))
                continue
            if f.kind == "string":
                self.add(fns, Fn(name, "const char *", handle, [cast, "return m && m->%s ? m->%s : \"\";" % (
                    f.name, f.name)]))
                wl = self.add(fns, Fn(name + "_with_len", "const char *", handle + [("size_t *", "len")], [
                    cast, "return aiw__string_with_len(m ? m->%s : NULL, len);" % f.name]))
                json.append(("string", jn, wl.name))
                kinds.add("string")
            elif f.kind == "bytes":
                fn = self.add(fns, Fn(name, "const void *", handle + [("size_t *", "len")], [
                    cast, "size_t n = m ? m->%s.len : 0;" % f.name, "if (len) *len = n;",
                    "return n ? m->%s.data : NULL;" % f.name]))
                json.append(("bytes", jn, fn.name))
                kinds.add("bytes")
            elif f.kind == "message":
                sub = f.message
                fn = self.add(fns, Fn(name, "const %s *" % sub.handle, handle, [
                    cast, "return m ? (const %s *)m->%s : NULL;" % (sub.handle, f.name)]))
                json.append(("message", jn, fn.name, "aiwj_" + sub.snake))
                kinds.add("message")
            elif f.kind == "enum":
                e = f.enum
                fn = self.add(fns, Fn(name, e.ctype, handle, [cast, "return m ? (%s)m->%s : %s;" % (
                    e.ctype, f.name, e.zero)]))
                json.append(("enum", jn, fn.name, e.ctype + "_name"))
            else:
                fn = self.add(fns, Fn(name, f.ctype, handle, [cast, "return m ? m->%s : 0;" % f.name]))
                json.append((f.kind, jn, fn.name))
        if m.role == "response":
            self.add(fns, Fn(base + "free", "void", [("%s *" % m.handle, p)], [
                "if (%s) aiw__decoded_free((ProtobufCMessage *)%s);" % (p, p)]))
        what = ("the response of %s" % m.rpc if m.role == "response"
                else "borrowed from the response it came from")
        head = ("%s (%s), %s. Its getters read one field each; what they return is borrowed from the %s and "
                "lives as long as it does. For a NULL %s: \"\" for strings, 0 for numbers and enums, NULL for "
                "pointers." % (m.name, m.full[1:], what, p, p))
        if "string" in kinds:
            head += " Each string getter has a _with_len form (the string's length, NULs included)."
        if "list" in kinds:
            notes.append("A repeated field: _count, and the i-th element (0 <= i < count; NULL when out of range).")
        if "vector" in kinds:
            notes.append("A repeated number is read in one call: a pointer to *len values (NULL with *len 0 when "
                         "empty; len may be NULL).")
        if "map" in kinds:
            notes.append("A map: _count, the i-th entry's _key and _value in wire order (NULL when out of range), "
                         "and _get(key), the value for key (the last one if repeated) or NULL.")
        if m.role == "response":
            notes.append("%s_free frees it (NULL-safe)." % m.handle)
        notes.append("Any thread that may read the %s." % p)
        self.groups.append((m.rpc if m.role == "response" else "messages", [head] + notes + self.field_notes(m), fns))
        self.json.append((m, json))

    def map_getters(self, m, f, fns, json, cast, handle):
        entry = f.message
        key, value = entry.field("key"), entry.field("value")
        if key.kind != "string" or value.kind != "string":
            raise GenError("%s: only map<string, string> is supported in a response" % f.where())
        base = "%s_%s" % (m.handle, f.name)
        self.add(fns, Fn(base + "_count", "size_t", handle, [cast, "return m ? m->n_%s : 0;" % f.name]))
        for part in ("key", "value"):
            self.add(fns, Fn("%s_%s" % (base, part), "const char *", handle + [("size_t", "i")], [
                cast, "if (!m || i >= m->n_%s) return NULL;" % f.name,
                "return m->%s[i]->%s ? m->%s[i]->%s : \"\";" % (f.name, part, f.name, part)]))
        self.add(fns, Fn(base + "_get", "const char *", handle + [("const char *", "key")], [
            cast, "if (!m || !key) return NULL;",
            "for (size_t i = m->n_%s; i-- > 0;)" % f.name,
            "  if (strcmp(m->%s[i]->key ? m->%s[i]->key : \"\", key) == 0)" % (f.name, f.name),
            "    return m->%s[i]->value ? m->%s[i]->value : \"\";" % (f.name, f.name), "return NULL;"]))
        for part in ("key", "value"):
            self.add(fns, Fn("%s_%s_with_len" % (base, part), "const char *",
                             handle + [("size_t", "i"), ("size_t *", "len")], [
                cast, "if (len) *len = 0;", "if (!m || i >= m->n_%s) return NULL;" % f.name,
                "return aiw__string_with_len(m->%s[i]->%s, len);" % (f.name, part)]))
        json.append(("map", f.json, base + "_count", base + "_key_with_len", base + "_value_with_len"))

    def field_notes(self, m):
        notes = []
        for f in m.fields:
            if f.comment:
                notes.append("  %s: %s" % (f.name, f.comment))
            sub = f.message
            if sub is not None and m.role == "request" and not sub.role:
                notes += ["  %s.%s: %s" % (f.name, g.name, g.comment) for g in sub.fields if g.comment]
        return notes


# ---- rendering -----------------------------------------------------------------


def wrap(text, width=76, indent=""):
    words, lines, line = text.split(), [], indent
    for w in words:
        if len(line) + len(w) + (1 if line.strip() else 0) > width and line.strip():
            lines.append(line)
            line = indent + w
        else:
            line = line + (" " if line.strip() else "") + w
    if line.strip():
        lines.append(line)
    return lines


def comment_block(paragraphs):
    out = ["/*"]
    for p in paragraphs:
        if p.startswith("  "):  # a field note: keep its indentation
            out += [" * " + line for line in wrap(p.strip(), 74, "  ")]
        else:
            out += [" * " + line for line in wrap(p, 74)]
    return out + [" */"]


def begin_marker(key):
    return "/* BEGIN GENERATED %s -- %s: edit those, not this */" % (key, GENERATED_BY)


def end_marker(key):
    return "/* END GENERATED %s */" % key


BLOCK_RE = re.compile(r"^/\* BEGIN GENERATED (\S+) [^\n]*\*/\n.*?^/\* END GENERATED \1 \*/\n", re.S | re.M)


def header_blocks(layer, declared_by_hand):
    s = layer.schema
    blocks = {}
    lines = ["/* Enums of the contract: AIW_<VALUE> is the proto's value, number for number. */"]
    for e in s.enum_list:
        lines.append("typedef enum %s {" % e.ctype)
        for i, (name, number, comment) in enumerate(e.values):
            sep = "," if i + 1 < len(e.values) else ""
            lines.append("  AIW_%s = %d%s%s" % (name, number, sep, (" /* %s */" % comment) if comment else ""))
        lines += ["} %s;" % e.ctype, ""]
    blocks["types"] = lines
    blocks["messages"] = []
    for name, _, _, _ in s.methods:
        blocks[name] = []
    for key, paragraphs, fns in layer.groups:
        decls = ["AIW_API %s;" % f.signature() for f in fns if f.name not in declared_by_hand]
        if not decls:
            continue
        block = blocks[key]
        if block and block[-1] != "":
            block.append("")
        block += comment_block(paragraphs) + decls
    handles = s.handles()
    if handles:
        if blocks["types"][-1] != "":
            blocks["types"].append("")
        blocks["types"] += comment_block([
            "The messages of the contract, opaque: a request is built with its setters and sent by its RPC; a "
            "response, and the messages in it, are read with their getters."])
        blocks["types"] += ["typedef struct %s %s;" % (m.handle, m.handle) for m in handles]
    return blocks


def declarations(text):
    """aiw.h's functions: name -> parameter names."""
    out = {}
    for m in re.finditer(r"^AIW_API [^;]*?\b(aiw_[a-z0-9_]+)\(([^;]*?)\);", text, re.M | re.S):
        params = [re.findall(r"\w+", p)[-1] for p in m.group(2).split(",") if re.findall(r"\w+", p)]
        out[m.group(1)] = [] if params == ["void"] else params
    return out


def render_header(text, layer):
    # What aiw.h declares outside the generated blocks is not declared again.
    hand = BLOCK_RE.sub("", text)
    declared_by_hand = set(re.findall(r"\b(aiw_[a-z0-9_]+)\(", hand))
    blocks = header_blocks(layer, declared_by_hand)
    seen = set()

    def fill(match):
        key = match.group(1)
        if key not in blocks:
            raise GenError("%s: no such generated block %r (types, messages, or an RPC of the service)" % (
                HEADER, key))
        seen.add(key)
        body = blocks[key]
        return "\n".join([begin_marker(key)] + body + [end_marker(key)]) + "\n"

    out = BLOCK_RE.sub(fill, text)
    missing = [k for k, v in blocks.items() if v and k not in seen]
    if missing:
        raise GenError("%s has no block for %s: add the two lines\n%s\n%s\nwhere its declarations belong" % (
            HEADER, ", ".join(missing), begin_marker(missing[0]), end_marker(missing[0])))
    return out


def render_c(layer, overridden):
    out = ["/* messages.gen.c -- GENERATED by %s (make); edit those, not this." % GENERATED_BY,
           " *",
           " * Every message's constructor, free, setters and getters (include/aiw.h",
           " * declares them). Requests are protobuf-c messages built with malloc and",
           " * freed by protobuf-c; responses are the decoded messages (decode.c). What",
           " * the schema does not say is hand-written in lib/message_rules.c, whose",
           " * functions replace the generated ones of the same name. */",
           "#include <math.h>", "#include <stdlib.h>", "#include <string.h>", "",
           '#include "internal.h"', '#include "messages.h"']
    for f in layer.fns.values():
        if f.name in overridden:
            continue
        out += ["", f.signature() + " {"] + ["  " + b for b in f.body] + ["}"]
    return "\n".join(out) + "\n"


def render_json(layer):
    h = ["/* json.gen.h -- GENERATED by %s (make); edit those, not this." % GENERATED_BY,
         " *",
         " * The proto3 JSON of each response message (and of the messages in them):",
         " * a new jansson reference, or NULL if out of memory (json_out.h). */",
         "#ifndef AIW_JSON_GEN_H", "#define AIW_JSON_GEN_H", "", "#include <jansson.h>", "", '#include "aiw.h"', ""]
    c = ["/* json.gen.c -- GENERATED by %s (make); edit those, not this." % GENERATED_BY,
         " *",
         " * Each response message field by field, in proto field order, through its",
         " * getters, with json_out.c's writers (which apply the proto3 JSON rules). */",
         '#include "json_out.h"']
    for m, fields in layer.json:
        h.append("json_t *aiwj_%s(const %s *%s);" % (m.snake, m.handle, m.param))
        helpers, body = [], ["aiwj_object obj = aiwj_object_start();"]
        for item in fields:
            kind, jn = item[0], item[1]
            if kind == "array":
                fn = "%s_%s_at" % (m.snake, re.sub(r"\W", "_", jn))
                helpers += ["", "static json_t *%s(const void *owner, size_t i) { return %s; }" % (fn, item[3])]
                body.append('aiwj_put_array(&obj, "%s", %s(%s), %s, %s);' % (jn, item[2], m.param, fn, m.param))
            elif kind == "array_string":
                fn = "%s_%s_at" % (m.snake, re.sub(r"\W", "_", jn))
                helpers += ["", "static const char *%s(const void *owner, size_t i, size_t *len) { return %s(owner, i, len); }"
                            % (fn, item[3])]
                body.append('aiwj_put_strings(&obj, "%s", %s(%s), %s, %s);' % (jn, item[2], m.param, fn, m.param))
            elif kind == "vector":
                body += ["{", "  size_t n = 0;", "  const %s *v = %s(%s, &n);" % (
                    {"int32": "int32_t", "int64": "int64_t", "uint32": "uint32_t", "uint64": "uint64_t"}.get(
                        item[3], item[3]), item[2], m.param),
                         '  aiwj_put_%ss(&obj, "%s", v, n);' % (item[3], jn), "}"]
            elif kind == "map":
                key, value = ("%s_%s_%s" % (m.snake, re.sub(r"\W", "_", jn), part) for part in ("key", "value"))
                for fn, getter in ((key, item[3]), (value, item[4])):
                    helpers += ["", "static const char *%s(const void *owner, size_t i, size_t *len) { return %s(owner, i, len); }"
                                % (fn, getter)]
                body.append('aiwj_put_string_map(&obj, "%s", %s(%s), %s, %s, %s);' % (
                    jn, item[2], m.param, key, value, m.param))
            elif kind == "string":
                body += ["{", "  size_t len = 0;", "  const char *s = %s(%s, &len);" % (item[2], m.param),
                         '  aiwj_put_string(&obj, "%s", s, len);' % jn, "}"]
            elif kind == "bytes":
                body += ["{", "  size_t len = 0;", "  const void *b = %s(%s, &len);" % (item[2], m.param),
                         '  aiwj_put_bytes(&obj, "%s", b, len);' % jn, "}"]
            elif kind == "message":  # present: an object, {} when empty; absent: left out
                body.append('if (%s(%s)) aiwj_put(&obj, "%s", %s(%s(%s)));' % (
                    item[2], m.param, jn, item[3], item[2], m.param))
            elif kind == "enum":
                body.append('aiwj_put_enum(&obj, "%s", (int)%s(%s), %s);' % (jn, item[2], m.param, item[3]))
            else:
                body.append('aiwj_put_%s(&obj, "%s", %s(%s));' % (kind, jn, item[2], m.param))
        body.append("return obj.json;")
        c += helpers
        c += ["", "json_t *aiwj_%s(const %s *%s) {" % (m.snake, m.handle, m.param)] + ["  " + b for b in body] + ["}"]
    h += ["", "#endif /* AIW_JSON_GEN_H */"]
    return "\n".join(h) + "\n", "\n".join(c) + "\n"


# ---- the symbol ledger and the version script -------------------------------


def render_symbols(text, names, version):
    listed = {line.split()[0]: line.split()[1] for line in text.splitlines()
              if line.strip() and not line.startswith("#")}
    new = [n for n in names if n not in listed]
    if not new:
        return text, listed
    if not text.endswith("\n"):
        text += "\n"
    for n in new:
        text += "%-44s %s\n" % (n, version)
        listed[n] = version
    return text, listed


NODE_RE = re.compile(r"^(AIW_(\d+)\.(\d+)) \{\n(.*?)^\}( AIW_[\d.]+)?;\n", re.S | re.M)


def render_map(text, names, listed):
    nodes = {m.group(1): m for m in NODE_RE.finditer(text)}
    if not nodes:
        raise GenError("%s: no version node found" % MAPFILE)
    in_map = set(re.findall(r"^\s+(aiw_[a-z0-9_]+);", text, re.M))
    add = {}
    for n in names:
        major, minor = listed[n].split(".")[:2]
        node = "AIW_%s.%s" % (major, minor)
        if node == "AIW_1.0" or n in in_map:  # AIW_1.0 exports aiw_* (the rest of the names)
            continue
        add.setdefault(node, []).append(n)
    for node in sorted(add, key=lambda k: tuple(int(x) for x in k[4:].split("."))):
        lines = "".join("    %s;\n" % n for n in add[node])
        nodes = {m.group(1): m for m in NODE_RE.finditer(text)}
        if node in nodes:
            m = nodes[node]
            end = m.start() + m.group(0).rindex("}")
            text = text[:end] + lines + text[end:]
        else:
            last = list(nodes)[-1]
            text = text.rstrip("\n") + "\n\n%s {\n  global:\n%s} %s;\n" % (node, lines, last)
    return text


# ---- formatting ------------------------------------------------------------------


def clang_format(text, path):
    """The output as `make format` would leave it, when clang-format is installed."""
    exe = shutil.which("clang-format")
    if not exe:
        return text
    r = subprocess.run([exe, "--style=file", "--assume-filename=" + os.path.abspath(path)], input=text.encode(),
                       stdout=subprocess.PIPE, check=True)
    return r.stdout.decode()


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def generate(request):
    params = dict(p.split("=", 1) for p in request.parameter.split(",") if "=" in p)
    version = params.get("version")
    if not version or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise GenError("--aiw_opt=version=X.Y.Z (the library's version: new symbols' `since`) is required")
    files = {fd.name: fd for fd in request.proto_file}
    if len(request.file_to_generate) != 1:
        raise GenError("one .proto at a time (idl/ai_service.proto)")
    schema = Schema(files[request.file_to_generate[0]])
    header_text = read(HEADER)
    layer = Layer(schema, declarations(header_text))
    rules = read(RULES)
    overridden = set(re.findall(r"^[a-z][^;{}()]*?\b(aiw_[a-z0-9_]+)\([^;{}]*\)\s*\{", rules, re.M))
    names = list(layer.fns)
    header = render_header(header_text, layer)
    symbols, listed = render_symbols(read(SYMBOLS), names, version)
    mapfile = render_map(read(MAPFILE), names, listed)
    json_h, json_c = render_json(layer)
    out = {HEADER: clang_format(header, HEADER), OUT_C: clang_format(render_c(layer, overridden), OUT_C),
           SYMBOLS: symbols, MAPFILE: mapfile, OUT_JSON_H: clang_format(json_h, OUT_JSON_H),
           OUT_JSON_C: clang_format(json_c, OUT_JSON_C)}
    return out


def main():
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    try:
        for name, content in generate(request).items():
            f = response.file.add()
            f.name, f.content = name, content
    except (GenError, OSError, StopIteration, KeyError) as e:
        response.error = "protoc-gen-aiw: %s" % (e,)
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
