#!/usr/bin/python3
"""python-memcache (text protocol) against a server: /usr/bin/python3 python_memcache_basics.py HOST:PORT

set/get with pickled and integer values, multi-get, gets/cas, incr/decr,
append/prepend, add/replace, touch, delete, flush_all and stats.
Prints "python-memcache: ok" and exits 0 when every check holds; names the failure otherwise.
"""
import sys

import memcache


def main(server):
    mc = memcache.Client([server], cache_cas=True, socket_timeout=10)
    assert mc.flush_all() is None or True
    assert mc.set("e2e:a", "alpha"), "set"
    assert mc.get("e2e:a") == "alpha", "get"
    assert mc.get("e2e:missing") is None, "get missing"
    assert mc.set("e2e:obj", {"k": [1, 2, 3]}), "set pickled"
    assert mc.get("e2e:obj") == {"k": [1, 2, 3]}, "get pickled"
    assert mc.set("e2e:int", 42) and mc.get("e2e:int") == 42, "int value"
    big = "z" * 300000
    assert mc.set("e2e:big", big) and mc.get("e2e:big") == big, "300 kB value"
    items = {"e2e:m%d" % i: "v%d" % i * (1 + i % 5) for i in range(200)}
    assert mc.set_multi(items) == [], "set_multi"
    assert mc.get_multi(list(items) + ["e2e:nope"]) == items, "get_multi"

    assert mc.gets("e2e:a") == "alpha", "gets"
    assert mc.cas("e2e:a", "beta"), "cas with the current token"
    mc2 = memcache.Client([server], cache_cas=True, socket_timeout=10)
    assert mc2.gets("e2e:a") == "beta"
    assert mc.set("e2e:a", "gamma")
    assert not mc2.cas("e2e:a", "delta"), "cas with a stale token must fail"
    assert mc.get("e2e:a") == "gamma", "cas kept"

    assert mc.add("e2e:n", "1"), "add new"
    assert not mc.add("e2e:n", "2"), "add existing fails"
    assert mc.replace("e2e:n", "5"), "replace"
    assert not mc.replace("e2e:none", "5"), "replace missing"
    assert mc.incr("e2e:n", 10) == 15, "incr"
    assert mc.decr("e2e:n", 3) == 12, "decr"
    assert mc.incr("e2e:none") is None, "incr missing"
    assert mc.append("e2e:a", ">") and mc.prepend("e2e:a", "<"), "append/prepend"
    assert mc.get("e2e:a") == "<gamma>", "append/prepend value"
    assert mc.touch("e2e:a", 100), "touch"
    assert mc.delete("e2e:a"), "delete"
    assert mc.get("e2e:a") is None, "deleted"

    stats = mc.get_stats()
    assert stats and int(stats[0][1][b"cmd_set" if b"cmd_set" in stats[0][1] else "cmd_set"]) > 0, "stats"
    mc.flush_all()
    assert mc.get("e2e:n") is None, "flushed"
    print("python-memcache: ok")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print("python-memcache: FAILED:", e)
        sys.exit(1)
