#!/usr/bin/python3
"""fibfast beside FRR with a full BGP table (lab: frr-lab.sh), measured; run as root.

  frr-bench.py run --fibfast BIN --v4 N --v6 N [--name NAME] [--out FILE] [--events load,reset,linkdown]
  frr-bench.py send --dests A,B,... --interval S      (inside the source namespace)
  frr-bench.py sink --ifaces r1,r2                     (inside the peer namespace)

run builds the lab and measures, with the kernel alone and with fibfast attached to the router's
three ports (src, p1, p2), in the same lab (the table's load with the kernel alone first, then
fibfast started with the table in place; each event with fibfast first, then without):
  load      the peer's sessions come up and the table flows in: when the kernel holds every route
            (polled from the router's /proc/net/fib_triestat and rt6_stats), and with fibfast when
            the agent took in its last route event and tracks every route (its metrics:
            fibfast_agent_routes, fibfast_agent_last_route_event_seconds), its CPU time and peak RSS
  reset     a stream to destinations in every group while every session is reset (all routes
            withdrawn, then learned again): datagrams lost while the kernel held every route
            (must be none), datagrams that reached the peer while the kernel held none of the
            table (forwarded to a next hop the kernel no longer used: must be none), and the loss
  linkdown  the same stream while the router's port p1 goes down with the table loaded: per
            group, the longest silence of its destinations (multipath routes lose a member at
            once; the others wait for bgpd to move them to the backup path)
and prints one JSON object (also to --out). send and sink are its traffic: a paced UDP stream
(each datagram carries its sequence number; the destinations take turns) and a capture on the
peer's ports that prints every datagram's arrival (time, port, sequence number) when stopped.
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pkt  # noqa: E402

LAB = os.path.join(HERE, "frr-lab.sh")
PORT = 9999
SOURCE_PORT = 40000
METRICS_PORT = 9464
STREAM_INTERVAL = 0.002
POLL = 0.1
# The sequence number of the datagram that ends a stream, one per destination.
END = 0xFFFFFFFF
# How long the sink waits for the end datagrams once told to stop: only reached when one is lost.
END_TIMEOUT = 30


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} frr-bench: {msg}", file=sys.stderr, flush=True)


# --- traffic ---------------------------------------------------------------------------------

def cmd_send(a):
    dests = a.dests.split(",")
    socks = {4: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
             6: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)}
    # Fixed source ports: every run sends the same flows, so a multipath route hashes each
    # destination onto the same next hop with fibfast and without.
    socks[6].setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    socks[4].bind(("0.0.0.0", SOURCE_PORT))
    socks[6].bind(("::", SOURCE_PORT))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    print("ready", flush=True)
    start = time.time()
    seq = 0
    while not stop:
        delay = start + seq * a.interval - time.time()
        if delay > 0:
            time.sleep(delay)
        dst = dests[seq % len(dests)]
        pkt.sendto_retry(socks[pkt.family_of(dst)], pkt.payload(seq, 16), (dst, PORT))
        seq += 1
    # Each flow's datagrams arrive in order: the sink has seen everything of a destination
    # that was going to arrive once it has seen this one.
    for dst in dests:
        pkt.sendto_retry(socks[pkt.family_of(dst)], pkt.payload(END, 16), (dst, PORT))
    print(json.dumps({"start": start, "interval": a.interval, "sent": seq, "dests": dests}), flush=True)


def cmd_sink(a):
    ifaces = a.ifaces.split(",")
    ports = {pkt.open_capture(i): n for n, i in enumerate(ifaces)}
    arrivals = []
    ended = set()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(time.time() + END_TIMEOUT))
    print("ready", flush=True)
    while not stop or (len(ended) < a.ends and time.time() < stop[0]):
        try:
            ready, _, _ = select.select(list(ports), [], [], 0.2)
        except InterruptedError:
            continue
        now = time.time()
        for sock in ready:
            frame, addr = sock.recvfrom(2048)
            if addr[2] == pkt.PACKET_OUTGOING:
                continue
            p = pkt.parse(frame)
            if not p or p["proto"] != "udp" or p["dport"] != PORT:
                continue
            off = 14 + ((frame[14] & 0xF) * 4 if p["family"] == 4 else 40) + 8
            seq = struct.unpack_from("!I", frame, off)[0]
            if seq == END:
                ended.add(p["dst"])
            else:
                arrivals.append((round(now, 4), ports[sock], seq))
    json.dump(arrivals, sys.stdout)
    sys.stdout.flush()


class Stream:
    """A stream from the source host to the chosen destinations, captured on the peer's ports."""

    def __init__(self, lab, dests):
        # The sink listens before the first datagram leaves.
        self.sink = lab.spawn("peer", [sys.executable, __file__, "sink", "--ifaces", "r1,r2",
                                       "--ends", str(len(set(dests)))])
        self.ready(self.sink)
        self.send = lab.spawn("src", [sys.executable, __file__, "send", "--dests", ",".join(dests),
                                      "--interval", str(STREAM_INTERVAL)])
        self.ready(self.send)

    @staticmethod
    def ready(helper):
        if helper.stdout.readline().strip() != "ready":
            raise RuntimeError("traffic helper did not start")

    def stop(self):
        self.send.send_signal(signal.SIGTERM)
        sent = json.loads(self.send.communicate(timeout=30)[0])
        # The sink stops once every destination's end datagram is in.
        self.sink.send_signal(signal.SIGTERM)
        arrivals = json.loads(self.sink.communicate(timeout=60)[0])
        return sent, arrivals


# --- the lab ---------------------------------------------------------------------------------

class Lab:
    def __init__(self, name, v4, v6):
        self.name, self.v4, self.v6 = name, v4, v6
        subprocess.run([LAB, "down", name], check=False)
        t = time.time()
        subprocess.run([LAB, "up", name, str(v4), str(v6)], check=True)
        log(f"lab {name} up in {time.time() - t:.1f} s (table generated, bird loaded it)")
        self.dir = subprocess.run([LAB, "dir", name], check=True, capture_output=True, text=True).stdout.strip()
        with open(f"{self.dir}/destinations.json") as f:
            self.groups = json.load(f)["groups"]
        with open(f"{self.dir}/zebra.pid") as f:
            self.zebra = int(f.read())
        self.interval = POLL
        self.base = self.kernel_routes()
        # What p1 takes with it when it goes down (its connected and local routes), measured
        # before any BGP route exists: counts during a link-down event are relative to it.
        self.must("rtr", ["ip", "link", "set", "p1", "down"])
        self.base_p1_down = self.kernel_routes()
        self.must("rtr", ["ip", "link", "set", "p1", "up"])
        deadline = time.time() + 30
        while self.kernel_routes() != self.base:
            if time.time() > deadline:
                raise RuntimeError(f"p1 up again, but the router's routes did not come back: {self.kernel_routes()} vs {self.base}")
            self.pause()

    def down(self):
        subprocess.run([LAB, "down", self.name], check=False)

    def spawn(self, node, argv, **kw):
        return subprocess.Popen(["ip", "netns", "exec", f"{self.name}-{node}"] + argv,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, **kw)

    def route_get(self, dst):
        return subprocess.run(["ip", "-n", f"{self.name}-rtr", "route", "get", dst],
                              capture_output=True, text=True).stdout

    def must(self, node, argv):
        subprocess.run(["ip", "netns", "exec", f"{self.name}-{node}"] + argv, check=True)

    def sessions(self, what):
        subprocess.run([LAB, "sessions", self.name, what], check=True)

    def kernel_routes(self):
        """IPv4 prefixes in the main table and IPv6 routes, as the router's kernel has them now."""
        with open(f"/proc/{self.zebra}/net/fib_triestat") as f:
            main = f.read().split("Main:", 1)[1]
        v4 = int(re.search(r"Prefixes:\s+(\d+)", main).group(1))
        with open(f"/proc/{self.zebra}/net/rt6_stats") as f:
            v6 = int(f.read().split()[3], 16)
        return v4, v6

    def table_count(self, base=None):
        """Routes of the table in the kernel: those beyond `base` (the lab's own routes)."""
        base = base or self.base
        t = time.time()
        v4, v6 = self.kernel_routes()
        # Reading fib_triestat walks the whole trie (about 0.1 s at a million prefixes): polls
        # stay apart by twice that, so the poller does not take the CPU zebra and the agent need.
        self.interval = max(POLL, 2 * (time.time() - t))
        return v4 - base[0] + v6 - base[1]

    def pause(self):
        time.sleep(self.interval)

    def destinations(self):
        """Two destinations per group, four for the multipath ones: which next hop a flow takes
        is the kernel's hash, and the kernel alone hashes the sender socket's random flow hash
        (the veth keeps it), fibfast's lookup the addresses and ports; more flows make it likely
        that some take p1 in both modes."""
        def pick(picks, n):
            return picks[:: max(1, len(picks) // n)][:n]
        return {g: pick(picks, 4 if g.startswith("m") else 2) for g, picks in self.groups.items()}


class Agent:
    def __init__(self, lab, binary):
        self.lab = lab
        self.log = open(f"{lab.dir}/agent.log", "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", f"{lab.name}-rtr", binary, "attach", "src", "p1", "p2",
                                      "--metrics", str(METRICS_PORT)],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # ip netns exec execs the agent itself

    def in_step_lines(self):
        with open(f"{self.lab.dir}/agent.log") as f:
            return f.read().count("in step with the kernel")

    def wait_in_step(self, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fibfast attach exited ({self.proc.returncode}); see {self.lab.dir}/agent.log")
            if self.in_step_lines() > 0 and self.metrics():
                return
            time.sleep(POLL)
        raise RuntimeError("the agent did not get in step")

    def metrics(self):
        try:
            s = pkt.in_netns(f"{self.lab.name}-rtr", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            with s:
                s.settimeout(5)
                s.connect(("127.0.0.1", METRICS_PORT))
                s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                body = b""
                while chunk := s.recv(65536):
                    body += chunk
        except OSError:
            return None
        values = dict(re.findall(r"^(fibfast_agent_\w+) (\S+)$", body.decode(), re.M))
        return {k: float(v) for k, v in values.items()} or None

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        return int(status["VmHWM"].split()[0]), int(status["VmRSS"].split()[0])

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- measurements ----------------------------------------------------------------------------

def wait_table(lab, want, agent=None, timeout=900):
    """Polls until the kernel holds `want` routes of the table (and the agent tracks as many and
    has been quiet for 2 s); returns the timeline."""
    t0 = time.time()
    kernel_at = agent_at = None
    agent_quiet = None
    while time.time() - t0 < timeout:
        now = time.time()
        if kernel_at is None and lab.table_count() == want:
            kernel_at = now
        if kernel_at is not None and agent is None:
            break
        if agent is not None:
            m = agent.metrics() or {}
            routes, last = m.get("fibfast_agent_routes"), m.get("fibfast_agent_last_route_event_seconds", 0)
            if kernel_at is not None and routes == want:
                if agent_quiet is None or agent_quiet[0] != last:
                    agent_quiet = (last, now)
                elif now - agent_quiet[1] >= 2:
                    agent_at = last
                    break
        lab.pause()
    else:
        raise RuntimeError(f"the table did not settle at {want} routes in {timeout} s "
                           f"(kernel {lab.table_count()}, agent {agent and agent.metrics()})")
    return kernel_at, agent_at


def load(lab, agent):
    """From enabling the peer's sessions to the kernel (and agent) holding the whole table."""
    want = lab.v4 + lab.v6
    cpu0 = agent.cpu_seconds() if agent else None
    t0 = time.time()
    lab.sessions("enable")
    kernel_at, agent_at = wait_table(lab, want, agent)
    r = {"kernel_s": round(kernel_at - t0, 2)}
    if agent:
        hwm, rss = agent.memory_kib()
        r.update(agent_s=round(agent_at - t0, 2), agent_after_kernel_s=round(agent_at - kernel_at, 2),
                 agent_cpu_s=round(agent.cpu_seconds() - cpu0, 2), agent_peak_rss_mib=round(hwm / 1024, 1),
                 agent_rss_mib=round(rss / 1024, 1), agent_routes=int(agent.metrics()["fibfast_agent_routes"]))
    log(f"load ({'fibfast' if agent else 'kernel alone'}): {r}")
    return r


def withdraw(lab, agent):
    """Every session down, until the kernel (and agent) hold none of the table."""
    lab.sessions("disable")
    wait_table(lab, 0, agent)


def poll_until(lab, done, timeout=900, base=None):
    """Polls the kernel's count of table routes until done(count); returns (time of the last
    poll before, time of the first poll that was done)."""
    t0 = before = time.time()
    while time.time() - t0 < timeout:
        now = time.time()
        if done(lab.table_count(base)):
            return before, now
        before = now
        lab.pause()
    raise RuntimeError(f"the kernel's table did not settle in {timeout} s (at {lab.table_count()} routes)")


def reset_under_traffic(lab, agent):
    want = lab.v4 + lab.v6
    dests = [d for picks in lab.destinations().values() for d in picks]
    stream = Stream(lab, dests)
    # A second of the stream before the change: the outage is measured against traffic that
    # flowed, not against a stream still starting. The pause is the measurement's, no wait.
    time.sleep(1)
    lab.sessions("disable")
    full_until, _ = poll_until(lab, lambda n: n < want)
    _, empty_from = poll_until(lab, lambda n: n == 0)
    lab.sessions("enable")
    empty_until, full_again = poll_until(lab, lambda n: n > 0)
    _, full_again = poll_until(lab, lambda n: n == want)
    if agent:
        wait_table(lab, want, agent)
    # A second of the stream after the table settled: datagrams sent with every route in place,
    # which must arrive. The pause is the measurement's window, not a wait for something.
    time.sleep(1)
    sent, arrivals = stream.stop()
    received = {seq for _, _, seq in arrivals}
    send_time = lambda seq: sent["start"] + seq * sent["interval"]  # noqa: E731
    # Sent while the kernel held every route (with a margin for the way through): must arrive.
    lost_while_routed = [seq for seq in range(sent["sent"]) if seq not in received and
                         (send_time(seq) < full_until - 0.05 or send_time(seq) > full_again + 0.05)]
    # Arrived while the kernel held none of the table: forwarded to a next hop it no longer used.
    stale = sum(1 for t, _, seq in arrivals if empty_from + 0.05 < t < empty_until and send_time(seq) > empty_from)
    r = {"sent": sent["sent"], "received": len(received), "lost": sent["sent"] - len(received),
         "lost_while_kernel_had_every_route": len(lost_while_routed),
         # Where those were: seconds after the stream began or after the table was whole again.
         "lost_while_routed_at": [round(send_time(q) - (sent["start"] if send_time(q) < full_until else full_again), 3)
                                  for q in lost_while_routed[:10]],
         "arrived_while_kernel_had_no_route": stale,
         "withdrawn_in_s": round(empty_from - full_until, 2), "relearned_in_s": round(full_again - empty_until, 2)}
    log(f"reset ({'fibfast' if agent else 'kernel alone'}): {r}")
    return r


def wait_agent_quiet(agent, quiet=2):
    last, since = None, time.time()
    while time.time() - since < quiet:
        m = (agent.metrics() or {}).get("fibfast_agent_last_route_event_seconds")
        if m != last:
            last, since = m, time.time()
        time.sleep(POLL)


def link_down(lab, agent):
    want = lab.v4 + lab.v6
    groups = lab.destinations()
    dests = [d for picks in groups.values() for d in picks]
    stream = Stream(lab, dests)
    # A second of the stream before the change: the outage is measured against traffic that
    # flowed, not against a stream still starting. The pause is the measurement's, no wait.
    time.sleep(1)
    down_at = time.time()
    lab.must("rtr", ["ip", "link", "set", "p1", "down"])
    # Settled: every route of the table back, group a now through p2 (p1's own routes are gone).
    _, back = poll_until(lab, lambda n: n == want, base=lab.base_p1_down)
    settled = back - down_at
    if agent:
        wait_agent_quiet(agent)
    # A second of the stream after the table settled: datagrams sent with every route in place,
    # which must arrive. The pause is the measurement's window, not a wait for something.
    time.sleep(1)
    sent, arrivals = stream.stop()
    lab.must("rtr", ["ip", "link", "set", "p1", "up"])
    send_time = lambda seq: sent["start"] + seq * sent["interval"]  # noqa: E731
    r = {"table_back_s": round(settled, 2), "groups": {}}
    for g, picks in groups.items():
        index = {sent["dests"].index(d) for d in picks}
        n = len(sent["dests"])
        seqs = [s for s in range(sent["sent"]) if s % n in index]
        got = {seq for _, _, seq in arrivals if seq % n in index}
        # The outage: from the link failing to the first datagram that arrived after it, per
        # destination; the group's is its slowest destination's.
        worst = 0.0
        for i in index:
            after = [send_time(s) for s in seqs if s % n == i and s in got and send_time(s) >= down_at]
            before = [send_time(s) for s in seqs if s % n == i and s not in got and send_time(s) >= down_at]
            if before:
                resumed = min((t for t in after if t > max(before)), default=None)
                worst = max(worst, (resumed - down_at) if resumed else float("inf"))
        # null: traffic to the group never came back.
        on_p1 = {seq % n for _, port, seq in arrivals if port == 0 and seq % n in index and send_time(seq) < down_at}
        r["groups"][g] = {"outage_ms": round(worst * 1000, 1) if worst != float("inf") else None,
                          "destinations_through_p1": len(on_p1),
                          "lost": sum(1 for s in seqs if s not in got),
                          "lost_before_failure": sum(1 for s in seqs if s not in got and send_time(s) < down_at)}
    log(f"link down ({'fibfast' if agent else 'kernel alone'}): {r}")
    # Back as it was: p1's sessions up again and group a through it (the count is whole as soon
    # as p1's own routes return, while bgpd still moves the group back).
    wait_table(lab, want, agent)
    while any("dev p1" not in lab.route_get(d) for d in groups["a4"] + groups["a6"]):
        lab.pause()
    if agent:
        wait_agent_quiet(agent)
    return r


def cmd_run(a):
    name = a.name or f"frr{os.getpid()}"
    lab = Lab(name, a.v4, a.v6)
    result = {"v4": a.v4, "v6": a.v6, "kernel": {}, "fibfast": {}}
    agent = None
    try:
        def save():
            if a.out:
                with open(a.out, "w") as f:
                    json.dump(result, f, indent=1)

        # The table with the kernel alone, then with an agent that starts with it in place and
        # follows it being withdrawn and learned again.
        events = a.events.split(",")
        result["kernel"]["load"] = load(lab, None)
        save()
        t0 = time.time()
        agent = Agent(lab, a.fibfast)
        agent.wait_in_step()
        hwm, _ = agent.memory_kib()
        result["fibfast"]["start_with_table"] = {"in_step_s": round(time.time() - t0, 2),
                                                 "peak_rss_mib": round(hwm / 1024, 1)}
        log(f"agent started with the table loaded: {result['fibfast']['start_with_table']}")
        if "load" in events:
            withdraw(lab, agent)
            result["fibfast"]["load"] = load(lab, agent)
        result["poll_interval_s"] = round(lab.interval, 2)
        save()
        # The events with fibfast, then with the kernel alone.
        if "reset" in events:
            result["fibfast"]["reset"] = reset_under_traffic(lab, agent)
            save()
        if "linkdown" in events:
            result["fibfast"]["linkdown"] = link_down(lab, agent)
        hwm, _ = agent.memory_kib()
        result["fibfast"]["peak_rss_mib"] = round(hwm / 1024, 1)
        result["fibfast"]["cpu_s"] = round(agent.cpu_seconds(), 2)
        save()
        agent.stop()
        agent = None
        if "reset" in events:
            result["kernel"]["reset"] = reset_under_traffic(lab, None)
            save()
        if "linkdown" in events:
            result["kernel"]["linkdown"] = link_down(lab, None)
    finally:
        if agent:
            agent.stop()
        lab.down()
    save()
    print(json.dumps(result, indent=1))


def main():
    ap = argparse.ArgumentParser(prog="frr-bench.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--fibfast", required=True)
    p.add_argument("--v4", type=int, default=1000000)
    p.add_argument("--v6", type=int, default=200000)
    p.add_argument("--name")
    p.add_argument("--out")
    p.add_argument("--events", default="load,reset,linkdown",
                   help="what to measure with fibfast beside the kernel alone's table load")
    p = sub.add_parser("send")
    p.add_argument("--dests", required=True)
    p.add_argument("--interval", type=float, required=True)
    p = sub.add_parser("sink")
    p.add_argument("--ifaces", required=True)
    p.add_argument("--ends", type=int, default=0, help="end datagrams to wait for once stopped")
    a = ap.parse_args()
    {"run": cmd_run, "send": cmd_send, "sink": cmd_sink}[a.cmd](a)


if __name__ == "__main__":
    main()
