#!/usr/bin/python3
"""tests/cli/expect.py -- checks `aiw --json` output (read from stdin) against
the reference service's documented answers (tests/refservice/README.md),
computed here independently of the service's code, except the embedding
vectors: those are the service's own formula (tests/refservice/embedding.py).

    expect.py embed (text TEXT | file PATH) TYPE      TYPE: unknown|semantic|visual|both
    expect.py search TYPE THRESHOLD LIMIT [FILTER...]  TYPE: unknown|semantic|visual|hybrid
    expect.py chat QUERY MAX_DOCS THRESHOLD IMAGES     IMAGES: 0|1
    expect.py json EXPECTED                            EXPECTED: a JSON array, one item per line
    expect.py assert EXPR                              EXPR: Python over `lines` (parsed)

Every mode first checks the form: each line one compact JSON object, valid
UTF-8, no raw control characters, every number the shortest decimal of its
float32 value. Exit 0 when everything matches; else prints the first
difference (with its path) and exits 1.
"""
import ast
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'refservice'))
sys.dont_write_bytecode = True  # no __pycache__/ in the tree
import embedding  # noqa: E402  (tests/refservice/embedding.py)


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def shortest_f32(x):
    x = f32(x)
    for digits in range(1, 10):
        s = '%.*g' % (digits, x)
        if f32(float(s)) == x:
            return s
    return repr(x)


class Number:
    """A JSON number as printed, compared by float32 value."""
    def __init__(self, text):
        self.text = text
        self.value = float(text)

    def __repr__(self):
        return self.text


def parse_number(text):
    # The double nearest to the shortest decimal that reads back as the same
    # float32: what aiw prints. Anything longer (0.699999988) or not a
    # float32 at all fails.
    n = Number(text)
    if float(shortest_f32(n.value)) != n.value:
        raise ValueError('number %s is not the shortest form of a float32 (%s)' % (text, shortest_f32(n.value)))
    return n


def read_lines():
    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        fail('output is not valid UTF-8: %s' % e)
    if text and not text.endswith('\n'):
        fail('output does not end with a newline')
    lines = []
    for i, line in enumerate(text.split('\n')[:-1] if text else []):
        for ch in line:
            if ord(ch) < 0x20:
                fail('line %d has a raw control character %r' % (i + 1, ch))
        try:
            obj = json.loads(line, parse_float=parse_number, parse_int=parse_number,
                             parse_constant=lambda c: fail('bare %s in JSON' % c))
        except ValueError as e:
            fail('line %d is not valid JSON (%s): %s' % (i + 1, e, line[:200]))
        if not isinstance(obj, dict):
            fail('line %d is not a JSON object' % (i + 1))
        lines.append(obj)
    return lines


def fail(msg):
    print('expect.py: ' + msg)
    sys.exit(1)


def compare(actual, expected, path='$'):
    if isinstance(expected, float) or (isinstance(expected, int) and isinstance(actual, Number)
                                       and not isinstance(expected, bool)):
        if not isinstance(actual, Number):
            fail('%s: expected number %r, got %r' % (path, expected, actual))
        if f32(actual.value) != f32(float(expected)):
            fail('%s: expected %r (float32 %r), got %s' % (path, expected, f32(float(expected)), actual.text))
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            fail('%s: expected an object, got %r' % (path, actual))
        if list(actual.keys()) != list(expected.keys()):
            fail('%s: expected keys %s, got %s' % (path, list(expected.keys()), list(actual.keys())))
        for k in expected:
            compare(actual[k], expected[k], path + '.' + k)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            fail('%s: expected an array, got %r' % (path, actual))
        if len(actual) != len(expected):
            fail('%s: expected %d items, got %d' % (path, len(expected), len(actual)))
        for i, (a, e) in enumerate(zip(actual, expected)):
            compare(a, e, '%s[%d]' % (path, i))
        return
    if type(actual) is not type(expected) or actual != expected:
        fail('%s: expected %r, got %r' % (path, expected, actual))


# ---------------------------------------------------------------- embeddings
# The vectors are the service's own formula (tests/refservice/embedding.py,
# its only implementation), as float32.
def vector(values):
    return [f32(x) for x in values]


def expected_embedding(data, is_image, typ):
    if typ == 'unknown':
        typ = 'visual' if is_image else 'semantic'
    exp = {}
    if typ in ('semantic', 'both'):
        exp['semanticVector'] = vector(embedding.semantic(data))
    if typ in ('visual', 'both'):
        exp['visualVector'] = vector(embedding.visual(data))
    exp['success'] = True
    return exp


# ---------------------------------------------------------------- the corpus
CORPUS = [
    # asset_id, caption, mime, semantic, visual, hybrid, owner, year, kind
    ('doc-001', 'Quarterly report 2024 Q1', 'application/pdf', 0.95, None, 0.5, 'alice', '2024', 'report'),
    ('img-002', 'Sunset over the harbour', 'image/jpeg', 0.9, 0.97, 0.875, 'bob', '2023', 'photo'),
    ('doc-003', 'Meeting notes: product launch', 'text/plain', 0.875, None, 0.375, 'alice', '2024', 'notes'),
    ('img-004', 'Team photo at the offsite', 'image/png', 0.8, 0.9, 0.75, 'carol', '2024', 'photo'),
    ('doc-005', 'Invoice #4411 from Acme', 'application/pdf', 0.75, None, 0.25, 'bob', '2022', 'invoice'),
    ('img-006', 'Whiteboard sketch of the architecture', 'image/png', 0.7, 0.85, 0.625, 'alice', '2024', 'diagram'),
    ('doc-007', 'Contract draft v3', 'application/msword', 0.625, None, 0.125, 'dave', '2023', 'contract'),
    ('img-008', 'Scanned receipt, caf\u00e9 M\u00fchle', 'image/jpeg', 0.6, 0.8, 0.6875, 'carol', '2022', 'receipt'),
    ('doc-009', 'Travel itinerary: Z\u00fcrich', 'text/markdown', 0.5, None, 0.0625, 'dave', '2024', 'travel'),
    ('img-010', 'Product mockup', 'image/webp', 0.45, 0.75, 0.5625, 'bob', '2024', 'design'),
    ('doc-011', 'Research paper on embeddings', 'application/pdf', 0.375, None, 0.03125, 'erin', '2021', 'paper'),
    ('img-012', 'Cat on the keyboard', 'image/gif', 0.25, 0.7, 0.4375, 'erin', '2023', 'photo'),
]


def ranking(typ, threshold, filters, include_images=True):
    col = {'unknown': 3, 'semantic': 3, 'visual': 4, 'hybrid': 5}[typ]
    out = []
    for a in CORPUS:
        score = a[col]
        if score is None or f32(score) < f32(threshold):
            continue
        meta = {'owner': a[6], 'year': a[7], 'kind': a[8]}
        ok = True
        for f in filters:
            if '=' in f:
                k, v = f.split('=', 1)
                ok = ok and meta.get(k) == v
            else:
                ok = ok and a[2].startswith(f)
        if not include_images and a[2].startswith('image/'):
            ok = False
        if ok:
            out.append((f32(score), a, meta))
    out.sort(key=lambda t: (-t[0], t[1][0]))
    return [{'assetId': a[0], 'score': s, 'caption': a[1], 'mimeType': a[2],
             'thumbnailUrl': 'https://thumbs.example.com/%s.jpg' % a[0],
             'metadata': dict(sorted(meta.items()))} for s, a, meta in out]


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    lines = read_lines()
    if mode == 'embed':
        kind, value, typ = args
        if kind == 'text':
            data, is_image = value.encode('utf-8'), False
        else:
            with open(value, 'rb') as f:
                data, is_image = f.read(), True
        compare(lines, [expected_embedding(data, is_image, typ)])
    elif mode == 'search':
        typ, threshold, limit, filters = args[0], float(args[1]), int(args[2]), args[3:]
        matches = ranking(typ, threshold, filters)
        exp = {}
        shown = matches[:limit or 10]
        if shown:
            exp['results'] = shown
        if matches:
            exp['totalCount'] = len(matches)
        exp['success'] = True
        compare(lines, [exp])
    elif mode == 'chat':
        query, max_docs, threshold, images = args[0], int(args[1]), float(args[2]), args[3] == '1'
        chunks = ['You asked: %s. ' % query, 'This is the reference AI service; ',
                  'its answers are deterministic, ', 'streamed in five chunks, ',
                  'with sources on the last one.']
        exp = [{'chunk': c} for c in chunks]
        exp[-1]['isFinal'] = True
        sources = ranking('semantic', threshold, [], include_images=images)[:max_docs or 3]
        if sources:
            exp[-1]['sources'] = sources
        compare(lines, exp)
    elif mode == 'json':
        compare(lines, json.loads(args[0]))
    elif mode == 'assert':
        # Statements separated by ';', the last one an expression that must
        # be true.
        tree = ast.parse(args[0], mode='exec')
        env = {'lines': lines, 'f32': f32}
        last = tree.body.pop()
        if not isinstance(last, ast.Expr):
            fail('assert: the last statement must be an expression')
        try:
            exec(compile(tree, '<assert>', 'exec'), env)
            result = eval(compile(ast.Expression(last.value), '<assert>', 'eval'), env)
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            fail('assertion raised %r: %s\nlines: %.2000r' % (e, args[0], lines))
        if not result:
            fail('assertion failed: %s\nlines: %.2000r' % (args[0], lines))
    else:
        fail('unknown mode ' + mode)


if __name__ == '__main__':
    main()
