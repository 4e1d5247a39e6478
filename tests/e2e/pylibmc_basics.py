#!/usr/bin/python3
"""pylibmc (libmemcached, binary protocol) against a server: /usr/bin/python3 pylibmc_basics.py HOST:PORT

multi-get, CAS, incr/decr, append/prepend, touch, add/replace/delete, flush.
Prints "pylibmc: ok" and exits 0 when every check holds; names the failure otherwise.
(Debian's python3-pylibmc imports only under /usr/bin/python3.)
"""
import sys

import pylibmc


def main(server):
    mc = pylibmc.Client([server], binary=True, behaviors={"cas": True, "connect_timeout": 2000,
                                                          "receive_timeout": 2000000,
                                                          "send_timeout": 2000000})
    assert mc.flush_all(), "flush first"
    assert mc.set("e2e:a", b"alpha"), "set"
    assert mc.get("e2e:a") == b"alpha", "get"
    assert mc.get("e2e:missing") is None, "get missing"
    big = b"y" * 200000
    assert mc.set("e2e:big", big), "set 200 kB"
    assert mc.get("e2e:big") == big, "get 200 kB"

    items = {"e2e:m%d" % i: ("value-%d" % i).encode() * (1 + i % 7) for i in range(300)}
    assert mc.set_multi(items) == [], "set_multi"
    got = mc.get_multi(list(items) + ["e2e:nope"])
    assert got == items, "get_multi: %d of %d match" % (
        sum(1 for k in items if got.get(k) == items[k]), len(items))

    value, cas = mc.gets("e2e:a")
    assert value == b"alpha" and cas, "gets"
    assert mc.cas("e2e:a", b"beta", cas), "cas with the current token"
    assert not mc.cas("e2e:a", b"gamma", cas), "cas with a stale token must fail"
    assert mc.get("e2e:a") == b"beta", "cas value"

    assert mc.add("e2e:n", b"1"), "add new"
    assert not mc.add("e2e:n", b"2"), "add existing fails"
    assert mc.replace("e2e:n", b"3"), "replace"
    try:
        assert not mc.replace("e2e:none", b"3"), "replace missing fails"
    except pylibmc.NotFound:
        pass
    assert mc.delete("e2e:n"), "delete"
    assert not mc.delete("e2e:n"), "delete missing"

    mc.set("e2e:ctr", "10")
    assert mc.incr("e2e:ctr", 5) == 15, "incr"
    assert mc.decr("e2e:ctr", 3) == 12, "decr"
    assert mc.decr("e2e:ctr", 100) == 0, "decr saturates at 0"
    mc.set("e2e:wrap", str(2**64 - 1))
    assert mc.incr("e2e:wrap", 2) == 1, "incr wraps at 2^64"
    try:
        mc.incr("e2e:nocounter", 1)
        raise AssertionError("incr missing must raise NotFound")
    except pylibmc.NotFound:
        pass

    assert mc.append("e2e:a", b"-end"), "append"
    assert mc.prepend("e2e:a", b"start-"), "prepend"
    assert mc.get("e2e:a") == b"start-beta-end", "append/prepend value"

    assert mc.touch("e2e:a", 300), "touch existing"
    assert not mc.touch("e2e:missing", 300), "touch missing"

    stats = mc.get_stats()
    assert stats and "curr_items" in stats[0][1], "stats"

    assert mc.flush_all(), "flush"
    assert mc.get("e2e:a") is None, "flush empties"
    assert mc.get_multi(list(items)[:50]) == {}, "flush empties multi"
    print("pylibmc: ok")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except (AssertionError, pylibmc.Error) as e:
        print("pylibmc: FAILED: %r" % (e,), file=sys.stderr)
        sys.exit(1)
