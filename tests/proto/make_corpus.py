#!/usr/bin/env python3
# Regenerates the fuzz seed corpus (corpus/*.bin): valid request streams for every
# command plus a few malformed ones. The first two bytes of each file are the fuzz
# target's knobs (segment size; small sink, SASL on, clock step), the rest is the request stream.
import os, struct
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, 'corpus')
os.makedirs(out, exist_ok=True)

def req(op, key=b'', ext=b'', val=b'', opaque=0, cas=0, magic=0x80, bodylen=None):
    bl = len(key) + len(ext) + len(val) if bodylen is None else bodylen
    return struct.pack('>BBHBBHIIQ', magic, op, len(key), len(ext), 0, 0, bl, opaque, cas) + ext + key + val

se = lambda f=0, e=0: struct.pack('>II', f, e)
ar = lambda d, i, e: struct.pack('>QQI', d, i, e)
seeds = {
    'get_set': req(1, b'a', se(1), b'hello') + req(0, b'a') + req(0x0c, b'b'),
    'quiet_batch': b''.join(req(0x0d, b'k%d' % i) for i in range(8)) + req(0x0a),
    'store_modes': req(2, b'a', se(), b'v') + req(3, b'a', se(), b'w') + req(0x0e, b'a', b'', b'+') +
                   req(0x0f, b'a', b'', b'-') + req(0x11, b'a', se(), b'q') + req(0x19, b'a', b'', b'z'),
    'cas': req(1, b'c', se(), b'v', cas=1) + req(4, b'c', cas=5) + req(0x14, b'c'),
    'arith': req(5, b'n', ar(1, 10, 0)) + req(6, b'n', ar(3, 0, 0)) + req(0x15, b'n', ar(1, 0, 0xffffffff)),
    'touch_gat': req(1, b't', se(0, 5), b'v') + req(0x1c, b't', struct.pack('>I', 9)) +
                 req(0x1d, b't', struct.pack('>I', 9)) + req(0x24, b't', struct.pack('>I', 9)),
    'flush': req(8, ext=struct.pack('>I', 3)) + req(0x18) + req(0x0b) + req(0x0a),
    'stats': req(0x10) + req(0x10, b'settings') + req(0x10, b'items') + req(0x10, b'detail on') +
             req(0x10, b'detail dump') + req(0x10, b'reset') + req(0x10, b'nope'),
    'sasl': req(0x20) + req(0x21, b'PLAIN', b'', b'\0u\0p') + req(0x22, b'PLAIN', b'', b'x'),
    'sasl_gate': req(0x0b) + req(0x00, b'a') + req(0x0a),
    'sasl_login': req(0x21, b'PLAIN', b'', b'\0u\0x') + req(0x21, b'PLAIN', b'', b'\0u\0p') +
                  req(1, b'a', se(), b'v') + req(0x0d, b'a') + req(0x0a),
    'unknown': req(0x55, b'k', b'e', b'v') + req(0x1b, ext=struct.pack('>I', 1)) + req(0x0a),
    'bad_magic': req(0x0a, magic=0x81),
    'bad_lengths': req(0, b'abc', bodylen=2),
    'too_large': req(1, b'big', se(), b'x' * 17000) + req(0x0a),
    'quit': req(0x0a) + req(0x07) + req(0x0a),
}
for name, data in seeds.items():
    knobs_list = (b'\x07\x00',) if len(data) > 4096 else (b'\x07\x00', b'\x40\x13')
    if name.startswith('sasl'):
        knobs_list = (b'\x07\x02', b'\x40\x03')
    for knobs in knobs_list:
        with open(os.path.join(out, '%s_%02x.bin' % (name, knobs[0])), 'wb') as f:
            f.write(knobs + data)
