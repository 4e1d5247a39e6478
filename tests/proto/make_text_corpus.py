#!/usr/bin/env python3
# Regenerates the text fuzz seed corpus (text_corpus/*.bin): valid text request streams
# for every command plus malformed ones. The first two bytes of each file are the fuzz
# target's knobs (piece size; small sink, clock step), the rest is the request stream.
import os
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, 'text_corpus')
os.makedirs(out, exist_ok=True)

def st(verb, key, value, flags=b'0', extra=b''):
    return b'%s %s %s 0 %d%s\r\n%s\r\n' % (verb, key, flags, len(value), extra, value)

seeds = {
    'get_set': st(b'set', b'a', b'hello', b'42') + b'get a\r\ngets a b\r\nbget a\r\n',
    'store_modes': st(b'add', b'a', b'v') + st(b'replace', b'a', b'w') + st(b'append', b'a', b'+') +
                   st(b'prepend', b'a', b'-') + st(b'set', b'a', b'q', extra=b' noreply') + b'get a\r\n',
    'cas': st(b'set', b'c', b'v') + st(b'cas', b'c', b'w', extra=b' 1') + st(b'cas', b'c', b'w', extra=b' 0') +
           b'gets c\r\n',
    'arith': st(b'set', b'n', b'5') + b'incr n 5\r\ndecr n 100\r\nincr n abc\r\nincr x 1 noreply\r\n',
    'touch_gat': st(b'set', b't', b'v') + b'touch t 10\r\ngat 5 t x\r\ngats -1 t\r\ntouch t abc\r\n',
    'delete': st(b'set', b'd', b'v') + b'delete d 0\r\ndelete d\r\ndelete d 1\r\ndelete d noreply\r\n',
    'flush': b'flush_all\r\nflush_all 10\r\nflush_all abc\r\nflush_all 0 noreply\r\nversion\r\n',
    'stats': b'stats\r\nstats settings\r\nstats items\r\nstats slabs\r\nstats sizes\r\n'
             b'stats detail on\r\nget p:a\r\nstats detail dump\r\nstats detail\r\nstats reset\r\nstats x\r\n',
    'errors': b'foo\r\n\r\n\nget\r\nset k 0 0\r\nset k 0 0 -1\r\nset k x 0 1\r\nv\r\nverbosity 1\r\n',
    'bad_chunk': b'set b 0 0 3\r\nabcd\r\nget b\r\n',
    'too_large': st(b'set', b'big', b'x' * 17000) + b'get big\r\n',
    'multiget': b''.join(st(b'set', b'm%d' % i, b'v' * (i * 700)) for i in range(8)) +
                b'get ' + b' '.join(b'm%d' % i for i in range(8)) + b'\r\n',
    'long_get': b'get ' + b'k ' * 1200 + b'\r\n',
    'long_line': b'x' * 2100,
    'meta': b'mn\r\nmg a v\r\nms a 1\r\nx\r\n',
    'http': b'GET / HTTP/1.1\r\n\r\n',
    'quit': b'get a\r\nquit\r\nget a\r\n',
    'binary_first': b'\x80\x0b' + b'\0' * 22,
    # memtier's lines: runs of single-key gets (looked up together) and plain sets.
    'pipelined_gets': b''.join(st(b'set', b'p%d' % i, b'v' * i) for i in range(0, 40, 3)) +
                      b''.join(b'%s p%d\r\n' % (b'gets' if i % 4 == 1 else b'get', i)
                               for i in range(40)) +
                      b'get ' + b'k' * 250 + b'\r\nget p1\nget p3\r\r\nget p0 p3\r\nget p6\r\n',
    'fast_set_shapes': b'set f 999999999 0 1\r\na\r\nset f 1000000000 0 1\r\nb\r\n'
                       b'set f 0 0 0000000001\r\nc\r\nset f 0 0 1 \r\nd\r\nset  f 0 0 1\r\ne\r\n'
                       b'set f 0 0 1\r\r\nf\r\nset f\0g 0 0 1\r\nh\r\nset f 0 0 2\r\nxyz\r\nget f\r\n',
}
for name, data in seeds.items():
    for knobs in (b'\x07\x00', b'\x40\x11'):
        with open(os.path.join(out, '%s_%02x.bin' % (name, knobs[0])), 'wb') as f:
            f.write(knobs + data)
