#!/usr/bin/env python3
# Adds the meta-command seeds to the text fuzz corpus (text_corpus/meta_*.bin): every
# meta command and flag, the stale/recache flows, and malformed meta lines (bad flags,
# tokens, numbers, base64 keys, too many flags, long keys and opaques, bad data blocks).
# Same knobs as make_text_corpus.py: the first two bytes are the fuzz target's (piece
# size; small sink, clock step), the rest is the request stream. The fuzz test also
# loads meta.dict (the meta tokens) as a libFuzzer dictionary.
import os
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, 'text_corpus')
os.makedirs(out, exist_ok=True)

def ms(key, value, flags=b''):
    return b'ms %s %d%s\r\n%s\r\n' % (key, len(value), flags, value)

seeds = {
    'meta_get_flags': ms(b'a', b'hello', b' T0 F5 c') + b'mg a v s f t c k h l O1 P L\r\nmg a u h l\r\n'
                      b'mg b v k O2 q\r\nmg a q\r\nmn\r\n',
    'meta_set_modes': ms(b'a', b'x') + ms(b'a', b'y', b' ME c') + ms(b'a', b'+', b' MA') +
                      ms(b'a', b'-', b' MP') + ms(b'a', b'z', b' MR C1') + ms(b'n', b'1', b' MS q k') +
                      ms(b'a', b'w', b' C0') + b'mg a v\r\nmn\r\n',
    'meta_delete': ms(b'd', b'v') + b'md d q\r\nmd d\r\nmd d C1 O9 k\r\nmd d C0\r\n',
    'meta_arith': ms(b'c', b'5') + b'ma c\r\nma c MD D3 v t c\r\nma c M- D9 v\r\nma x N0 J42 v\r\n'
                  b'ma y J1\r\nma c T30 t v\r\nma c D18446744073709551615 v\r\nma c C1 q\r\n',
    'meta_stale_recache': ms(b's', b'data', b' T100') + b'mg s R200 v t\r\nmg s R200 v t\r\n'
                          b'md s I T30\r\nmg s v c\r\nmg s v c\r\n' + ms(b's', b'new', b' C1 I') +
                          b'mg v N30 v t s\r\nmg v N30 t T5\r\nmg v T60 N30 t\r\n',
    'meta_base64': ms(b'Zm9v', b'hi', b' b c k') + b'mg Zm9v b k v\r\nmg foo k\r\nme Zm9v b\r\n'
                   b'me foo\r\nmg Zm9 b\r\nmg Zm!9v b\r\nmg AA==Zm9v b k\r\nmg ==== b\r\nmd Zm9v b\r\n',
    'meta_explicit_cas': ms(b'e', b'hi', b' E12345 c') + b'mg e c\r\nmd e I E77\r\nma c E9 c\r\n',
    'meta_errors': b'mg\r\nmg a x\r\nmg a v v\r\nmg a \xc3x\r\nmg a Nabc Fx\r\nmg a Mxy\r\nmg a Jx\r\n'
                   b'mg a Dx\r\nmg a T99999999999\r\nmg a C-1\r\nmd a x\r\nma a Mx\r\nme\r\nmx a\r\n'
                   b'ms a abc\r\nhi\r\nms a -1\r\nms a 2 Fabc\r\nhi\r\nms a 2 MX\r\nhi\r\n'
                   b'ms a 2\r\nhiX\r\nms a\r\n',
    'meta_limits': b'mg a k v c f s t h l u O1 P L N5 R5 T5 q C1\r\n'
                   b'mg a k v c f s t h l u O1 P L N5 R5 T5 q C1 F1\r\n'
                   b'mg ' + b'k' * 250 + b' v\r\nmg ' + b'k' * 251 + b' v\r\nmg a O' + b'x' * 32 + b'\r\n'
                   b'ms ' + b'k' * 251 + b' 2\r\nhi\r\n',
    'meta_too_large': b'ms big 17000 T0\r\n' + b'x' * 17000 + b'\r\nmg big v\r\nmn\r\n',
    'meta_mixed': b'set a 0 0 1\r\n1\r\nmg a v f c\r\nma a v\r\ngets a\r\nmd a I\r\nget a\r\nmg a v\r\n',
}
for name, data in seeds.items():
    knobs_list = (b'\x07\x00',) if len(data) > 4096 else (b'\x07\x00', b'\x40\x11')
    for knobs in knobs_list:
        with open(os.path.join(out, '%s_%02x.bin' % (name, knobs[0])), 'wb') as f:
            f.write(knobs + data)
