#!/usr/bin/env python3
"""Python oracles for the parsers of ngx_http_fireworks_module.

    oracle.py json DRIVER [CORPUS_DIR...]   JSON scanner against json
    oracle.py date DRIVER                   HTTP-date against calendar

DRIVER is t/fuzz/driver.c built.  Each command generates its cases
(seeded: the same cases on every run, FW_ORACLE_SEED changes them),
runs them all through one driver process, compares every answer with
what Python computes under the documented rules, prints one "not ok"
line per mismatch and ends with "cases N mismatches M".

The JSON rules (docs/directives.md), as Python sees them:
  - usable: the body is UTF-8 without BOM, json.loads() accepts it
    with NaN/Infinity refused, its top-level value is an object, and it
    nests at most DEPTH arrays and objects;
  - model: the top-level "model" (the last one) if it is a string
    that encodes to at most MODEL_MAX bytes of UTF-8 (no lone
    surrogate);
  - stream: the top-level "stream" (the last one) is true;
  - a prefix (inspection limit): usable if no byte of it is invalid;
    a top-level member counts once its value has started, and one cut
    by the limit is absent (model) or false (stream).
"""

import calendar
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile

MODEL_MAX = 512
DEPTH = 1024

sys.setrecursionlimit(20000)


class Invalid(Exception):
    pass


class Unknown(Exception):
    pass


def _refuse(name):
    raise Invalid(name)


DECODER = json.JSONDecoder(parse_constant=_refuse,
                           parse_int=lambda s: 0,
                           parse_float=lambda s: 0.0)


def too_deep_at(b):
    """The byte offset of the bracket opening level DEPTH + 1, or None.

    Exact for valid JSON; for invalid JSON the answer is "declined"
    anyway."""
    depth = 0
    in_str = esc = False
    for i, c in enumerate(b):
        if in_str:
            if esc:
                esc = False
            elif c == 0x5c:
                esc = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5b, 0x7b):
            depth += 1
            if depth > DEPTH:
                return i
        elif c in (0x5d, 0x7d):
            depth -= 1
    return None


def usable_model(v):
    if not isinstance(v, str):
        return None
    try:
        m = v.encode('utf-8')
    except UnicodeEncodeError:
        return None                         # a lone surrogate
    return m if len(m) <= MODEL_MAX else None


def parse_full(b):
    """(usable, model bytes or None, stream) of a whole body."""
    try:
        s = b.decode('utf-8')
    except UnicodeDecodeError:
        return False, None, False
    if too_deep_at(b) is not None:
        return False, None, False
    try:
        obj = json.loads(s, parse_constant=_refuse,
                         parse_int=lambda x: 0, parse_float=lambda x: 0.0)
    except RecursionError:
        raise Unknown('recursion')
    except (ValueError, Invalid):
        return False, None, False
    if not isinstance(obj, dict):
        return False, None, False
    return True, usable_model(obj.get('model')), obj.get('stream') is True


def skip_ws(s, i):
    while i < len(s) and s[i] in ' \t\n\r':
        i += 1
    return i


def members(s):
    """Top-level members of a valid JSON object text: (key, value,
    start, end) with str offsets, in order, duplicates included."""
    out = []
    i = skip_ws(s, 0)
    assert s[i] == '{'
    i = skip_ws(s, i + 1)
    if s[i] == '}':
        return out
    while True:
        i = skip_ws(s, i)
        key, i = json.decoder.scanstring(s, i + 1)
        i = skip_ws(s, i)
        assert s[i] == ':'
        i = skip_ws(s, i + 1)
        start = i
        value, i = DECODER.raw_decode(s, i)
        out.append((key, value, start, i))
        i = skip_ws(s, i)
        if s[i] == ',':
            i += 1
            continue
        assert s[i] == '}'
        return out


def parse_prefix(b, limit):
    """What the first limit bytes of the valid object text b give."""
    deep = too_deep_at(b)
    if deep is not None and deep < limit:
        return False, None, False
    s = b.decode('utf-8')
    model, stream = None, False
    for key, value, start, end in members(s):
        bstart = len(s[:start].encode('utf-8'))
        if bstart >= limit:
            break
        complete = len(s[:end].encode('utf-8')) <= limit
        if key == 'model':
            model = usable_model(value) if complete else None
        elif key == 'stream':
            stream = complete and value is True
    return True, model, stream


# --- generated JSON ---------------------------------------------------------

WORDS = ['model', 'stream', 'messages', 'role', 'content', 'tools', 'n',
         'temperature', 'max_tokens', 'response_format', 'schema', 'x',
         'stream_options', 'modelo', 'Model', 'mode', 'streams', '']

UNICODE = ['é', 'ß', 'ж', '中文', '😀', '\u2028', '\x7f', '\u00a0', '\ufeff',
           '\U0010ffff', '\ud800', '\udc00', '"', '\\', '/', '\n', '\t',
           '\x00', '\x1f', 'a', ' ']


def gen_string(rng):
    n = rng.choice([0, 1, 3, 8, 20])
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(rng.choice('abcdefghijklmnopqrstuvwxyz0123456789-/.'))
        else:
            out.append(rng.choice(UNICODE))
    if rng.random() < 0.02:
        out.append('x' * rng.choice([MODEL_MAX - 1, MODEL_MAX, MODEL_MAX + 1]))
    return ''.join(out)


def enc_string(rng, s):
    """Serialise s with randomly chosen (valid) escapes."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        r = rng.random()
        if ch == '"' or ch == '\\' or o < 0x20 or 0xd800 <= o <= 0xdfff:
            short = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f',
                     '\n': '\\n', '\r': '\\r', '\t': '\\t'}
            if ch in short and r < 0.5:
                out.append(short[ch])
            else:
                out.append('\\u%04x' % o if r < 0.75 else '\\u%04X' % o)
        elif ch == '/' and r < 0.5:
            out.append('\\/')
        elif r < 0.15:
            if o > 0xffff:
                v = o - 0x10000
                out.append('\\u%04x\\u%04x' % (0xd800 + (v >> 10),
                                                0xdc00 + (v & 0x3ff)))
            else:
                out.append('\\u%04x' % o)
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def ws(rng):
    return rng.choice(['', '', '', ' ', '\n', '\t', '\r\n  '])


def gen_number(rng):
    return rng.choice(['0', '-0', '1', '-1', '12', '1.5', '-0.25', '1e5',
                       '1E+5', '2e-3', '0.0e0',
                       '123456789012345678901234567890',
                       '1' + '0' * 400, '-9.99E-999'])


def gen_value(rng, depth, maxdepth):
    r = rng.random()
    if depth < maxdepth and r < 0.3:
        return gen_object(rng, depth + 1, maxdepth, top=False)
    if depth < maxdepth and r < 0.5:
        items = [gen_value(rng, depth + 1, maxdepth)
                 for _ in range(rng.choice([0, 1, 2, 3]))]
        return '[' + ws(rng) + (',' + ws(rng)).join(items) + ws(rng) + ']'
    if r < 0.7:
        return enc_string(rng, gen_string(rng))
    if r < 0.85:
        return gen_number(rng)
    return rng.choice(['true', 'false', 'null'])


def gen_key(rng, top):
    r = rng.random()
    if r < 0.3:
        return 'model'
    if r < 0.5:
        return 'stream'
    return rng.choice(WORDS)


def gen_object(rng, depth, maxdepth, top):
    n = rng.choice([0, 1, 2, 3, 4, 6])
    parts = []
    for _ in range(n):
        key = gen_key(rng, top)
        if key == 'model' and rng.random() < 0.6:
            value = enc_string(rng, rng.choice([
                'accounts/fireworks/models/llama-v3p1-8b-instruct',
                'gpt-4o-mini', gen_string(rng)]))
        elif key == 'stream' and rng.random() < 0.6:
            value = rng.choice(['true', 'true', 'false', '"true"', '1',
                                'null'])
        else:
            value = gen_value(rng, depth, maxdepth)
        parts.append(ws(rng) + enc_string(rng, key) + ws(rng) + ':' + ws(rng)
                     + value + ws(rng))
    return '{' + ','.join(parts) + ws(rng) + '}'


def deep(n, open_, close):
    return '{"model":"deep","x":' + open_ * n + close * n + '}'


FIXED = [
    b'{"model":"m","stream":true}',
    # \u with a byte that is no hex digit but lowers to one (0x16 | 0x20
    # is '6'), in a string nobody keeps and in the model
    b'{"x":"\\u4e\x16d","model":"m"}',
    b'{"x":"\\u0@41","model":"m"}',
    b'{"model":"\\u4e\x16d"}',
    b'{"model":"a","model":"b"}',
    b'{"model":"a","model":1}',
    b'{"stream":true,"stream":false}',
    b'{"stream":false,"stream":true}',
    b'{"m\\u006fdel":"escaped key"}',
    b'{"model":"\\ud83d\\ude00"}',
    b'{"model":"\\ud800"}',
    b'{"model":"\\udc00\\ud800"}',
    b'{"model":"\\ud800\\u0041"}',
    b'{"model":"\\ud800\\ud800\\udc00"}',
    b'{"model":"x\\u0000y"}',
    b'{"model":"\xc3\xa9"}',
    b'{"model":"\xc0\xa9"}',                   # overlong
    b'{"model":"\xed\xa0\x80"}',               # a surrogate in UTF-8
    b'{"model":"\xf4\x90\x80\x80"}',           # above U+10FFFF
    b'{"model":"\xe0\x9f\xbf"}',               # overlong, 3 bytes
    b'{"model":"\xf0\x8f\xbf\xbf"}',           # overlong, 4 bytes
    b'{"model":"\xf4\x8f\xbf\xbf"}',           # U+10FFFF
    b'{"model":"\xef\xbf\xbf"}',               # U+FFFF
    b'{"model":"\xff"}',
    b'\xef\xbb\xbf{"model":"bom"}',
    b'{"model":"m",}',
    b'{"model":"m"}/**/',
    b'{"model":"m"} x',
    b'{"model":"m"} {}',
    b'{"model":"m"}\n\r\t ',
    b' \n{"model":"m"}',
    b'{"a":NaN,"model":"m"}',
    b'{"a":Infinity,"model":"m"}',
    b'{"a":-Infinity,"model":"m"}',
    b'{"a":01,"model":"m"}',
    b'{"a":+1,"model":"m"}',
    b'{"a":1.,"model":"m"}',
    b'{"a":.5,"model":"m"}',
    b'{"a":1e,"model":"m"}',
    b'{"a":-,"model":"m"}',
    b'{"a":-0,"model":"m"}',
    b'{"a":1E-0,"model":"m"}',
    b'{"a":"tab\there","model":"m"}',
    b'{"a":"\\x","model":"m"}',
    b'{"a":"\\u12G4","model":"m"}',
    b'{"a":tru,"model":"m"}',
    b'{"a":True,"model":"m"}',
    b'{"model":"m","stream":"true"}',
    b'{"model":"m","stream":1}',
    b'{"model":null}',
    b'{"model":""}',
    b'{"model":["m"]}',
    b'{"messages":[{"model":"nested","stream":true}]}',
    b'{"tools":[{"function":{"parameters":{"properties":{"model":'
    b'{"type":"string"}}}}}],"model":"top"}',
    b'[{"model":"m"}]',
    b'"model"',
    b'1',
    b'null',
    b'',
    b'   ',
    b'{',
    b'{"model":"m"',
    b'{"model":"m"}}',
    b'{"model" "m"}',
    b'{"model":"m";}',
    b'{model:"m"}',
    b"{'model':'m'}",
    b'{"model":"m"\x00}',
    b'{"model":"' + b'x' * MODEL_MAX + b'"}',
    b'{"model":"' + b'x' * (MODEL_MAX + 1) + b'"}',
    b'{"model":"' + b'\\u00e9' * (MODEL_MAX // 2) + b'"}',
    b'{"model":"' + b'\\u00e9' * (MODEL_MAX // 2) + b'x"}',
    deep(DEPTH - 1, '[', ']').encode(),
    deep(DEPTH, '[', ']').encode(),
    ('{"x":' + '{"a":' * (DEPTH - 1) + '1' + '}' * (DEPTH - 1)
     + ',"model":"m"}').encode(),
    ('{"x":' + '{"a":' * DEPTH + '1' + '}' * DEPTH + ',"model":"m"}').encode(),
    ('[' * 10000 + ']' * 10000).encode(),
    ('{"model":"m","x":' + '[' * 10000).encode(),
]


# UTF-8 at its edges (RFC 3629): valid and not, in a model, in a key and
# in text nobody keeps (which the scanner skips in bulk), whole and cut
UTF8_EDGES = [b'\x7f', b'\xc2\x80', b'\xdf\xbf', b'\xe0\xa0\x80',
              b'\xed\x9f\xbf', b'\xee\x80\x80', b'\xef\xbf\xbf',
              b'\xf0\x90\x80\x80', b'\xf4\x8f\xbf\xbf',
              b'\xc0\x80', b'\xc1\xbf', b'\xe0\x80\x80', b'\xe0\x9f\xbf',
              b'\xed\xa0\x80', b'\xed\xbf\xbf', b'\xf0\x80\x80\x80',
              b'\xf0\x8f\xbf\xbf', b'\xf4\x90\x80\x80', b'\xf5\x80\x80\x80',
              b'\xff', b'\x80', b'\xc3', b'\xe4\xb8', b'\xf0\x9f\x98',
              b'\xc3\x28', b'\xe4\x28\xad', b'\xf0\x9f\x28\x80']

for seq in UTF8_EDGES:
    FIXED.append(b'{"model":"a' + seq + b'b"}')
    FIXED.append(b'{"k' + seq + b'":1,"model":"m"}')
    FIXED.append(b'{"messages":[{"content":"text ' + seq + b' more"}],'
                 b'"model":"m"}')
    FIXED.append(b'{"content":"' + seq + b'","model":"m"}')


def mutate(rng, b):
    b = bytearray(b)
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.random()
        pos = rng.randrange(len(b) + 1)
        if op < 0.3 and b:
            del b[min(pos, len(b) - 1)]
        elif op < 0.6:
            b[pos:pos] = bytes([rng.choice(b'{}[]",:\\ 0-.eEtfnu\x01\xc3\xa9')])
        elif b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
    return bytes(b)


def splits(rng, n):
    """Random split points in [0, n], some repeated (empty pieces)."""
    if n == 0:
        return [0]
    k = rng.choice([0, 1, 2, 5, 20, min(n, 200)])
    pts = sorted(rng.randrange(n + 1) for _ in range(k))
    if rng.random() < 0.2:
        pts = list(range(n + 1))
    return pts


def json_cases(rng, corpus_dirs):
    """Yield (name, body, limit, splits, expected)."""
    bodies = []
    for d in corpus_dirs:
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), 'rb') as f:
                bodies.append(('corpus/' + name, f.read()))
    for i, b in enumerate(FIXED):
        bodies.append(('fixed/%d' % i, b))
    for i in range(int(os.environ.get('FW_ORACLE_GENERATED', '600'))):
        doc = gen_object(rng, 1, rng.choice([1, 2, 4, 8]), top=True)
        b = (ws(rng) + doc + ws(rng)).encode('utf-8', 'surrogatepass')
        bodies.append(('gen/%d' % i, b))
        if rng.random() < 0.5:
            bodies.append(('mut/%d' % i, mutate(rng, b)))

    for name, b in bodies:
        try:
            full = parse_full(b)
        except Unknown:
            continue

        # the whole body: once in one piece, once split at random
        yield name + ' whole', b, -1, [], full
        yield name + ' split', b, -1, splits(rng, len(b)), full

        if not full[0] or len(b) < 2:
            continue

        # the inspection limit inside a valid body
        for _ in range(3):
            limit = rng.randrange(len(b))
            yield ('%s limit %d' % (name, limit), b, limit,
                   splits(rng, limit), parse_prefix(b, limit))

        # a byte invalid anywhere, before and after the limit
        k = rng.randrange(len(b))
        bad = b[:k] + rng.choice([b'\x01', b'\xff']) + b[k:]
        yield ('%s poisoned@%d limit %d' % (name, k, k + 1), bad, k + 1,
               splits(rng, k + 1), (False, None, False))
        yield ('%s poisoned@%d limit %d' % (name, k, k), bad, k,
               splits(rng, k), parse_prefix(b, k))


def literal(b, place):
    s, e = map(int, place.split(':'))
    try:
        v = json.loads(b[s:e].decode('utf-8'))
    except ValueError:
        return None
    return v.encode('utf-8') if isinstance(v, str) else None


def run_driver(driver, payload):
    with tempfile.TemporaryFile() as f:
        f.write(payload)
        f.seek(0)
        out = subprocess.run([driver], stdin=f, stdout=subprocess.PIPE,
                             check=True).stdout
    return out.decode().splitlines()


def check_json(driver, corpus_dirs):
    rng = random.Random(int(os.environ.get('FW_ORACLE_SEED', '15')))
    cases = list(json_cases(rng, corpus_dirs))
    payload = bytearray()
    for name, b, limit, pts, exp in cases:
        payload += ('json %d %d %d %s\n' % (limit, len(b), len(pts),
                    ' '.join(map(str, pts)))).encode()
        payload += b
    answers = run_driver(driver, bytes(payload))

    bad = 0
    for (name, b, limit, pts, exp), got in zip(cases, answers):
        feed, end, model, stream, place = got.split()
        usable, emodel, estream = exp
        want_end = 'OK' if usable else 'DECLINED'
        want_model = '-' if emodel is None else 'm' + emodel.hex()
        ok = (end == want_end and model == want_model
              and stream == str(int(estream)))
        # the model's place: the string literal there is the model
        if ok and emodel is not None:
            ok = place != '-' and literal(b, place) == emodel
        if limit < 0 and usable:
            ok = ok and feed == 'OK'
        if limit >= 0 and not usable:
            ok = ok and feed == 'DECLINED'
        if limit >= 0 and usable:
            ok = ok and feed != 'DECLINED'
        if not ok:
            bad += 1
            print('not ok %s: got %s, want %s %s %d (body %r)'
                  % (name, got, want_end, want_model, estream, b[:200]))
    if len(answers) != len(cases):
        bad += 1
        print('not ok driver answered %d of %d' % (len(answers), len(cases)))
    print('cases %d mismatches %d' % (len(cases), bad))
    return bad


# --- HTTP-date --------------------------------------------------------------

DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
DAYS_L = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday',
          'Saturday', 'Sunday']
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
          'Oct', 'Nov', 'Dec']


def fields(t):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t)
    return d.year, d.month, d.day, d.hour, d.minute, d.second, d.weekday()


def rfc850_expect(yy, mon, day, h, mi, s, now):
    """RFC 9110 5.6.7, read directly: of the years ending in yy, the
    latest whose timestamp is not more than 50 years after now."""
    ny, nmon, nday, nh, nmi, ns, _ = fields(now)
    best = None
    for y in range(ny - 150, ny + 151):
        if y % 100 != yy:
            continue
        if (y, mon, day, h, mi, s) <= (ny + 50, nmon, nday, nh, nmi, ns):
            best = y
    if mon == 2 and day == 29 and not calendar.isleap(best):
        return None
    return calendar.timegm((best, mon, day, h, mi, s))


def date_cases(rng):
    """Yield (name, text, now, expected t or None)."""
    for i in range(int(os.environ.get('FW_ORACLE_DATES', '3000'))):
        t = rng.choice([rng.randrange(0, 253402300800),
                        rng.randrange(0, 4102444800),
                        rng.randrange(1700000000, 1900000000)])
        now = rng.choice([t, rng.randrange(0, 4102444800), 1767225600,
                          0, 251000000000])
        y, mon, day, h, mi, s, wd = fields(t)
        imf = '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
            DAYS[wd], day, MONTHS[mon - 1], y, h, mi, s)
        yield 'imf %d' % i, imf, now, t
        asc = '%s %s %2d %02d:%02d:%02d %04d' % (
            DAYS[wd], MONTHS[mon - 1], day, h, mi, s, y)
        yield 'asctime %d' % i, asc, now, t
        rfc = '%s, %02d-%s-%02d %02d:%02d:%02d GMT' % (
            DAYS_L[wd], day, MONTHS[mon - 1], y % 100, h, mi, s)
        yield 'rfc850 %d' % i, rfc, now, rfc850_expect(
            y % 100, mon, day, h, mi, s, now)

        # the 50-year boundary: exactly 50 years after now stays in the
        # future, a second more is a century earlier
        ny, nmon, nday, nh, nmi, ns, nwd = fields(now)
        if 1970 <= ny <= 9899 and (nmon, nday) != (2, 29):
            for d in (-1, 0, 1):
                b = calendar.timegm((ny + 50, nmon, nday, nh, nmi, ns)) + d
                by, bmon, bday, bh, bmi, bs, bwd = fields(b)
                text = '%s, %02d-%s-%02d %02d:%02d:%02d GMT' % (
                    DAYS_L[bwd], bday, MONTHS[bmon - 1], by % 100, bh, bmi,
                    bs)
                yield 'rfc850-50y%+d %d' % (d, i), text, now, rfc850_expect(
                    by % 100, bmon, bday, bh, bmi, bs, now)

        # leap seconds, and days that may not exist
        day2 = rng.choice([28, 29, 30, 31])
        sec2 = rng.choice([59, 60, 61])
        ok = day2 <= calendar.monthrange(y, mon)[1] and sec2 <= 60
        imf2 = '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
            DAYS[wd], day2, MONTHS[mon - 1], y, h, mi, sec2)
        yield ('imf-range %d' % i, imf2, now,
               calendar.timegm((y, mon, day2, h, mi, sec2)) if ok else None)

        # one byte changed: the same answer as the date it now spells,
        # which for a changed case, space or digit is mostly "invalid"
        k = rng.randrange(len(imf))
        c = rng.choice('aAzZ 0- ,:G')
        bad = imf[:k] + c + imf[k + 1:]
        yield 'imf-mut %d' % i, bad, now, expect_imf(bad)


def expect_imf(s):
    """An independent reading of IMF-fixdate only (the mutations)."""
    if len(s) != 29 or s[3:5] != ', ' or s[25:] != ' GMT':
        return None
    if s[:3] not in DAYS or s[8:11] not in MONTHS:
        return None
    if s[7] != ' ' or s[11] != ' ' or s[16] != ' ' or s[19] != ':' \
            or s[22] != ':':
        return None
    digits = s[5:7] + s[12:16] + s[17:19] + s[20:22] + s[23:25]
    if not all(ch in '0123456789' for ch in digits):
        return None
    day, y, h, mi, sec = (int(s[5:7]), int(s[12:16]), int(s[17:19]),
                          int(s[20:22]), int(s[23:25]))
    mon = MONTHS.index(s[8:11]) + 1
    if y < 1 or day < 1 or day > calendar.monthrange(y, mon)[1] \
            or h > 23 or mi > 59 or sec > 60:
        return None
    t = calendar.timegm((y, mon, day, h, mi, sec))
    return t if t >= 0 else None


def check_date(driver):
    rng = random.Random(int(os.environ.get('FW_ORACLE_SEED', '13')))
    cases = list(date_cases(rng))
    payload = ''.join('date %d %s\n' % (now, text.encode().hex())
                      for _, text, now, _ in cases)
    answers = run_driver(driver, payload.encode())
    bad = 0
    for (name, text, now, exp), got in zip(cases, answers):
        want = 'ERROR' if exp is None or exp < 0 else str(exp)
        if got != want:
            bad += 1
            print('not ok %s: %r now %d: got %s, want %s'
                  % (name, text, now, got, want))
    if len(answers) != len(cases):
        bad += 1
        print('not ok driver answered %d of %d' % (len(answers), len(cases)))
    print('cases %d mismatches %d' % (len(cases), bad))
    return bad


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ('json', 'date'):
        sys.exit(__doc__)
    if sys.argv[1] == 'json':
        bad = check_json(sys.argv[2], sys.argv[3:])
    else:
        bad = check_date(sys.argv[2])
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
