"""staller.py — a hostile local user's connections to the daemon's API socket (issue 12,
finding 4), shared by tests/integration/test_review.py and scripts/bench_api.py.

STALLER is a Python program, run as another OS user with
`runuser -u USER -- /usr/bin/python3 -c STALLER SOCKET N [stalled|idle]`: it holds N
connections to SOCKET, each with half a request sent and then silence ("stalled", the
default) or nothing sent at all ("idle"); whenever the daemon closes one (refused at
accept, or cut at its deadline) it opens another at once. It prints "ready" once N were
opened, runs until its stdin closes, then prints one JSON line:
{"opened": how many it opened in all, "statuses": {"503": answers with that status, ...}}.
It is passed with -c (not as a file) so that the other user needs no access to the
checkout.
"""
import json

STALLER = r"""
import collections, json, select, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "stalled"
half = (b"POST /v1/artifacts/0123456789abcdef0123456789abcdef/decision HTTP/1.1\r\n"
        b"Host: x\r\nContent-Length: 100\r\n\r\n{")
poller, socks, statuses = select.poll(), {}, collections.Counter()
opened = 0
def open_one():
    global opened
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    if mode == "stalled":
        try:
            s.sendall(half)
        except OSError:
            pass
    s.setblocking(False)
    socks[s.fileno()] = s
    poller.register(s.fileno(), select.POLLIN)
    opened += 1
for _ in range(n):
    open_one()
print("ready", flush=True)
poller.register(sys.stdin.fileno(), select.POLLIN)
while True:
    events = poller.poll(500)
    if any(fd == sys.stdin.fileno() for fd, _ in events):
        break
    for fd, _ in events:
        s = socks.get(fd)
        if s is None:
            continue
        try:
            data = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1.1 "):
            statuses[data[9:12].decode()] += 1
        if not data:
            poller.unregister(fd)
            del socks[fd]
            s.close()
            open_one()
print(json.dumps({"opened": opened, "statuses": dict(statuses)}), flush=True)
"""


def summary(line):
    """The staller's last line as a dict ({"opened": 0, "statuses": {}} when it printed none)."""
    try:
        return json.loads(line)
    except ValueError:
        return {"opened": 0, "statuses": {}}
