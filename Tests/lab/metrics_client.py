#!/usr/bin/python3
"""HTTP clients, polite and hostile, for the metrics endpoint of `fibfast attach --metrics`
(stdlib only; run inside the router's namespace with ip netns exec).

  metrics_client.py scrape --port N [--pad BYTES]  one GET /metrics; prints the raw answer, exits 1
                                                   when none came. --pad adds a header of that size.
  metrics_client.py reset --port N                 sends a request line without the blank line,
                                                   then resets the connection (SO_LINGER 0)
  metrics_client.py idle --port N --count N        opens N connections, half of them with a
                                                   request line and no blank line; prints "ready"
                                                   and holds them until killed
  metrics_client.py trickle --port N --bytes N     sends a request line one byte every 0.1 s, up to
                                                   N bytes or until the server closes; prints JSON:
                                                   sent, closed
  metrics_client.py inspect --port N --pid PID     connects, finds the socket the server PID holds
                                                   for that connection, and prints JSON: found,
                                                   cloexec (the socket is closed on exec), held
                                                   (client sockets PID holds on port N)
  metrics_client.py occupy --port N                listens on the port; prints "ready", holds it
"""

import argparse
import glob
import json
import os
import select
import signal
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
REQUEST_LINE = b"GET /metrics HTTP/1.0\r\n"
O_CLOEXEC = 0o2000000
TCP_LISTEN = "0A"


def scrape(args):
    s = socket.create_connection((HOST, args.port), timeout=10)
    request = REQUEST_LINE + b"Host: fibfast\r\n"
    if args.pad:
        request += b"X-Pad: " + b"a" * args.pad + b"\r\n"
    try:
        s.sendall(request + b"\r\n")
    except OSError:
        pass  # refused before the end of the request: the answer may still be there
    answer = b""
    try:
        while chunk := s.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass  # after an answer to a request the server did not read to its end
    if not answer:
        sys.exit("no answer")
    sys.stdout.write(answer.decode(errors="replace"))


def reset(args):
    s = socket.create_connection((HOST, args.port), timeout=10)
    s.sendall(REQUEST_LINE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_for_signal():
    # Holds what was opened until the test stops this process.
    while True:
        signal.pause()


def idle(args):
    held = []
    for i in range(args.count):
        s = socket.create_connection((HOST, args.port), timeout=10)
        if i % 2:
            s.sendall(REQUEST_LINE)
        held.append(s)
    print("ready", flush=True)
    wait_for_signal()


def trickle(args):
    s = socket.create_connection((HOST, args.port), timeout=10)
    request = (REQUEST_LINE * (args.bytes // len(REQUEST_LINE) + 1))[: args.bytes]
    sent = 0
    closed = False
    for byte in request:
        try:
            s.send(bytes([byte]))
        except OSError:
            closed = True
            break
        sent += 1
        # The server closing shows as readable (EOF or reset) before a send fails.
        if select.select([s], [], [], 0.1)[0]:
            closed = True
            break
    print(json.dumps({"sent": sent, "closed": closed}))


def sockets_of(pid):
    """inode -> fd of every socket the process holds."""
    result = {}
    for path in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("socket:["):
            result[target[8:-1]] = path.rsplit("/", 1)[1]
    return result


def connections_to(pid, port):
    """(remote port, inode) of every TCP socket on local port `port`, listener excluded."""
    rows = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                if int(local.rsplit(":", 1)[1], 16) == port and state != TCP_LISTEN:
                    rows.append((int(remote.rsplit(":", 1)[1], 16), inode))
    return rows


def inspect(args):
    s = socket.create_connection((HOST, args.port), timeout=10)
    mine = s.getsockname()[1]
    # Until the server accepts it, or gives up on it (its deadline closes the connection).
    deadline = time.monotonic() + 10
    found = cloexec = False
    held = 0
    while time.monotonic() < deadline:
        fds = sockets_of(args.pid)
        rows = [(remote, fds[inode]) for remote, inode in connections_to(args.pid, args.port) if inode in fds]
        held = len(rows)
        ours = [fd for remote, fd in rows if remote == mine]
        if ours:
            with open(f"/proc/{args.pid}/fdinfo/{ours[0]}") as f:
                flags = next(int(line.split()[1], 8) for line in f if line.startswith("flags:"))
            found, cloexec = True, bool(flags & O_CLOEXEC)
            break
        if select.select([s], [], [], 0.01)[0]:
            break  # closed by the server before this look found it
    print(json.dumps({"found": found, "cloexec": cloexec, "held": held}))


def occupy(args):
    s = socket.socket()
    s.bind((HOST, args.port))
    s.listen()
    print("ready", flush=True)
    wait_for_signal()


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("scrape", "reset", "idle", "trickle", "inspect", "occupy"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        if name == "scrape":
            p.add_argument("--pad", type=int, default=0)
        if name == "idle":
            p.add_argument("--count", type=int, required=True)
        if name == "trickle":
            p.add_argument("--bytes", type=int, required=True)
        if name == "inspect":
            p.add_argument("--pid", type=int, required=True)
    args = parser.parse_args()
    {"scrape": scrape, "reset": reset, "idle": idle, "trickle": trickle, "inspect": inspect,
     "occupy": occupy}[args.command](args)


if __name__ == "__main__":
    main()
