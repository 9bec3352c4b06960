"""A client that resolves a name with the libc resolver and connects to it,
the way an application in a pod does. Run inside a pod's namespace with
`ip netns exec`, which also bind-mounts /etc/netns/<ns>/resolv.conf over
/etc/resolv.conf (the resolver the pod uses).

  dns_client.py connect NAME PORT [--family 4|6] [--timeout S]
      one lookup, then one TCP connection to the first address; prints JSON
      {"addresses": [...], "ok": bool, "peer": str|null, "reason": str, "seconds": float}

  dns_client.py race PATTERN COUNT PORT [--family 4|6] [--timeout S]
      COUNT times: resolve PATTERN.format(i) (a name never resolved before,
      so its address is not yet allowed) and connect at once, as a client
      that resolves and connects does. A connection whose first SYN was
      dropped waits for the retransmission (1 s), so any connect slower than
      `--timeout` (default 0.5 s) lost the race. Prints JSON
      {"count": N, "lost": L, "failed_lookups": F, "connect_ms": {"p50","p99","max"}}

Standard library only.
"""

import json
import socket
import sys
import time


def resolve(name: str, port: int, family: int) -> list:
    fam = socket.AF_INET6 if family == 6 else socket.AF_INET
    infos = socket.getaddrinfo(name, port, fam, socket.SOCK_STREAM)
    return [info[4] for info in infos]


def connect_once(sockaddr, family: int, timeout: float) -> dict:
    fam = socket.AF_INET6 if family == 6 else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    start = time.monotonic()
    try:
        sock.connect(sockaddr)
        connected = time.monotonic() - start
        greeting = b""
        while b"\n" not in greeting:
            chunk = sock.recv(256)
            if not chunk:
                break
            greeting += chunk
        return {"ok": True, "peer": greeting.decode().strip(), "reason": "ok", "seconds": connected}
    except socket.timeout:
        return {"ok": False, "peer": None, "reason": "timeout", "seconds": time.monotonic() - start}
    except OSError as exc:
        return {"ok": False, "peer": None, "reason": exc.strerror or str(exc),
                "seconds": time.monotonic() - start}
    finally:
        sock.close()


def option(args: list, name: str, default):
    if name in args:
        i = args.index(name)
        value = type(default)(args[i + 1])
        del args[i:i + 2]
        return value
    return default


def cmd_connect(args: list) -> dict:
    family = option(args, "--family", 4)
    timeout = option(args, "--timeout", 1.0)
    name, port = args[0], int(args[1])
    try:
        addrs = resolve(name, port, family)
    except socket.gaierror as exc:
        return {"addresses": [], "ok": False, "peer": None, "reason": f"lookup: {exc}", "seconds": 0}
    result = connect_once(addrs[0], family, timeout)
    result["addresses"] = sorted({a[0] for a in addrs})
    return result


def percentile(values: list, p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cmd_race(args: list) -> dict:
    family = option(args, "--family", 4)
    timeout = option(args, "--timeout", 0.5)
    pattern, count, port = args[0], int(args[1]), int(args[2])
    lost, failed, times = 0, 0, []
    for i in range(count):
        try:
            addrs = resolve(pattern.format(i), port, family)
        except socket.gaierror:
            failed += 1
            continue
        result = connect_once(addrs[0], family, timeout)
        if result["ok"]:
            times.append(result["seconds"] * 1000)
        else:
            lost += 1
    return {"count": count, "lost": lost, "failed_lookups": failed,
            "connect_ms": {"p50": percentile(times, 50), "p99": percentile(times, 99),
                           "max": max(times) if times else 0.0}}


def main(argv: list) -> int:
    if len(argv) < 2 or argv[1] not in ("connect", "race"):
        print(__doc__, file=sys.stderr)
        return 2
    args = list(argv[2:])
    out = cmd_connect(args) if argv[1] == "connect" else cmd_race(args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
