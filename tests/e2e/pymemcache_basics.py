#!/usr/bin/python3
"""pymemcache (text protocol) against a server: /usr/bin/python3 pymemcache_basics.py HOST:PORT

get/set/gets/cas, multi-get of 300 keys, a 200 kB value, incr/decr, append/prepend,
add/replace, touch, delete, noreply writes, flush_all, stats and version.
Prints "pymemcache: ok" and exits 0 when every check holds; names the failure otherwise.
"""
import sys

from pymemcache.client.base import Client


def main(server):
    host, port = server.rsplit(":", 1)
    mc = Client((host, int(port)), connect_timeout=2, timeout=10, default_noreply=False)
    assert mc.flush_all(), "flush first"
    assert mc.set("e2e:a", b"alpha", expire=0) is True, "set"
    assert mc.get("e2e:a") == b"alpha", "get"
    assert mc.get("e2e:missing") is None, "get missing"
    big = b"y" * 200000
    assert mc.set("e2e:big", big), "set 200 kB"
    assert mc.get("e2e:big") == big, "get 200 kB"

    items = {"e2e:m%d" % i: ("value-%d" % i).encode() * (1 + i % 7) for i in range(300)}
    assert mc.set_many(items) == [], "set_many"
    got = mc.get_many(list(items) + ["e2e:nope"])
    assert got == items, "get_many: %d of %d" % (len(got), len(items))

    value, cas = mc.gets("e2e:a")
    assert value == b"alpha" and cas, "gets"
    assert mc.cas("e2e:a", b"beta", cas) is True, "cas with the current token"
    assert mc.cas("e2e:a", b"gamma", cas) is False, "cas with a stale token must fail"
    assert mc.cas("e2e:none", b"x", cas) is None, "cas of a missing key"
    assert mc.get("e2e:a") == b"beta", "cas value"

    assert mc.add("e2e:n", b"1") is True, "add new"
    assert mc.add("e2e:n", b"2") is False, "add existing fails"
    assert mc.replace("e2e:n", b"3") is True, "replace"
    assert mc.replace("e2e:none", b"3") is False, "replace missing fails"
    assert mc.incr("e2e:n", 10) == 13, "incr"
    assert mc.decr("e2e:n", 20) == 0, "decr floors at 0"
    assert mc.incr("e2e:none", 1) is None, "incr missing"
    assert mc.append("e2e:a", b">") is True and mc.prepend("e2e:a", b"<") is True, "append/prepend"
    assert mc.get("e2e:a") == b"<beta>", "append/prepend value"
    assert mc.append("e2e:none", b"x") is False, "append missing"

    assert mc.touch("e2e:a", 100) is True, "touch"
    assert mc.touch("e2e:none", 100) is False, "touch missing"
    assert mc.delete("e2e:a") is True, "delete"
    assert mc.delete("e2e:a") is False, "delete again"

    nr = Client((host, int(port)), connect_timeout=2, timeout=10, default_noreply=True)
    for i in range(100):
        nr.set("e2e:q%d" % i, str(i).encode())
    # Replies are in order on one connection: a get there comes after every noreply set.
    assert nr.get_many(["e2e:q0", "e2e:q99"]) == {"e2e:q0": b"0", "e2e:q99": b"99"}, "noreply sets"

    stats = mc.stats()
    assert stats[b"cmd_get"] > 0 and b"curr_connections" in stats, "stats"
    assert int(mc.stats("settings")[b"item_size_max"]) > 0, "stats settings"
    assert mc.version(), "version"
    assert mc.flush_all(), "flush_all"
    assert mc.get("e2e:q0") is None, "flushed"
    print("pymemcache: ok")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print("pymemcache: FAILED:", e)
        sys.exit(1)
