# Random JSON answers for t/usage/check.c, with the usage the scanner must
# find: keys named usage, prompt_tokens, cached_tokens... nested anywhere,
# strings with quotes, backslashes, braces and non-ASCII, escaped or not;
# counts as JSON numbers, or as other values (not counts).  The expected
# usage, Python's reading of the rule: the top-level "usage" object, when
# it has a prompt_tokens or completion_tokens that is an integer.
#
#   python3 gen.py SEED  ->  lines "prompt completion cached<TAB>hex" or
#                            "none<TAB>hex"
import json, random, sys
random.seed(int(sys.argv[1]))
def rstr():
    alphabet = 'ab"\\\n\t{}[]:,usage_prompt_tokens é\u2028'
    return ''.join(random.choice(alphabet) for _ in range(random.randint(0, 30)))
def rval(d):
    r = random.random()
    if d > 4 or r < 0.3: return random.choice([rstr(), random.randint(0, 10**6), None, True, 1.5])
    if r < 0.6: return [rval(d+1) for _ in range(random.randint(0, 3))]
    o = {}
    for _ in range(random.randint(0, 4)):
        k = random.choice(['usage', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'prompt_tokens_details', rstr()])
        o[k] = rval(d+1)
    return o
def answer():
    o = {}
    exp = None
    for _ in range(random.randint(1, 6)):
        k = random.choice(['usage', 'choices', 'id', 'model', rstr()])
        if k == 'usage' and random.random() < 0.7:
            u = {}
            for kk in random.sample(['prompt_tokens', 'completion_tokens', 'total_tokens', 'prompt_tokens_details'], random.randint(0, 4)):
                u[kk] = {'cached_tokens': random.randint(0, 999)} if kk == 'prompt_tokens_details' else random.randint(0, 10**9)
            o[k] = u
        else:
            o[k] = rval(1)
    # expected: the last top-level "usage" (json keeps the last duplicate; dict has one)
    u = o.get('usage')
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if isinstance(u, dict) and (ok(u.get('prompt_tokens')) or ok(u.get('completion_tokens'))):
        d = u.get('prompt_tokens_details')
        c = d.get('cached_tokens') if isinstance(d, dict) and ok(d.get('cached_tokens')) else 0
        p = u.get('prompt_tokens'); q = u.get('completion_tokens')
        exp = (p if ok(p) else 0, q if ok(q) else 0, c)
    return o, exp
for i in range(300):
    o, exp = answer()
    text = json.dumps(o, ensure_ascii=random.random() < 0.5, separators=random.choice([(',', ':'), (', ', ': ')]))
    e = '%d %d %d' % exp if exp else 'none'
    sys.stdout.write('%s\t%s\n' % (e, text.encode('utf-8').hex()))
