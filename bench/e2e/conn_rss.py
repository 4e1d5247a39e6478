#!/usr/bin/env python3
"""Memory outside -m: the server's VmRSS with many idle connections and after a burst of
large GETs, then after every connection closed (docs/server.md has the figures).

Run from the client namespace of a test network, with anvil serving in the stack one:
  N=anvt-$$-1; tools/netns/testnet.sh create $N
  ip netns exec $N-stack build/control/anvil --config CONF -m 64 -c 1024 & PID=$!
  ip netns exec $N-client bench/e2e/conn_rss.py $PID 1000 100
  kill -TERM $PID; tools/netns/testnet.sh destroy $N
(CONF: [network] interface = "anv-s", ip = "198.18.0.1"; [lcores] idle = "backoff".)
Args: server pid, idle connections, how many of them GET the 1 MB value at once."""
import socket
import struct
import sys
import time

SERVER = ("198.18.0.1", 11211)
VALUE = b"x" * 1_000_000


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def request(op, key=b"", value=b"", extras=b""):
    body = len(extras) + len(key) + len(value)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, 0, 0) + \
        extras + key + value


def read_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(1 << 20, n - len(b)))
        if not c:
            raise RuntimeError("connection closed")
        b += c
    return bytes(b)


def response(s):
    h = read_exact(s, 24)
    status = struct.unpack(">H", h[6:8])[0]
    return status, read_exact(s, struct.unpack(">I", h[8:12])[0])


def main():
    pid, conns, getters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(f"start_kb {rss_kb(pid)}")
    socks = [socket.create_connection(SERVER) for _ in range(conns)]
    socks[-1].sendall(request(0x0a))  # noop: the last one is established and served
    response(socks[-1])
    time.sleep(1)
    print(f"idle_{conns}_kb {rss_kb(pid)}")
    socks[-1].sendall(request(0x01, b"big", VALUE, struct.pack(">II", 0, 0)))
    assert response(socks[-1])[0] == 0, "SET failed"
    print(f"after_1mb_set_kb {rss_kb(pid)}")
    for s in socks[:getters]:
        s.sendall(request(0x00, b"big"))
    for s in socks[:getters]:
        st, body = response(s)
        assert st == 0 and len(body) == 4 + len(VALUE), "GET failed"
    time.sleep(0.5)
    print(f"after_{getters}_1mb_gets_kb {rss_kb(pid)}")
    for s in socks:
        s.close()
    time.sleep(2)
    print(f"after_close_kb {rss_kb(pid)}")


if __name__ == "__main__":
    main()
