#!/usr/bin/env python3
"""The chaos suite's front-door rows (Benchmarks/chaos.sh): hostile input through every way in.

  frontdoors.py controls                      the printf(1) format of a line holding every C0 and C1
                                               control and every bidi control (for a stage to print),
                                               then, on a second line, the same text as JSON
  frontdoors.py check-human FILE...           exit 1 when a file meant for a person holds one of them
                                               raw (newline and tab aside); prints what and where
  frontdoors.py mcp --sutradhar S --work DIR --run ID --cache C --rounds N --seed S
                                               drives `S mcp` over raw stdio with a traversal list of
                                               pipeline and stage names, mistyped arguments, random
                                               frames and oversize ones; prints one JSON object
                                               {tried, held, notes, peak_rss_kib}

Only the standard library: the point is bytes on the wire that no SDK would send.
"""
import json
import os
import random
import select
import subprocess
import sys
import time

BIDI = [0x061C, 0x200E, 0x200F] + list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))
CONTROLS = [c for c in range(0x00, 0x20) if c not in (0x00, 0x0A)] + [0x7F] + list(range(0x80, 0xA0)) + BIDI


def controls_text():
    return "".join(f"<{c:x}>{chr(c)}" for c in CONTROLS)


def printf_format(text):
    """Octal escapes for every byte that is not plain printable ASCII (and for % and \\)."""
    out = []
    for byte in text.encode("utf-8"):
        if 0x20 <= byte < 0x7F and byte not in (0x25, 0x5C, 0x27):
            out.append(chr(byte))
        else:
            out.append("\\%03o" % byte)
    return "".join(out)


def raw_controls(data):
    text = data.decode("utf-8", errors="replace")
    found = []
    for index, char in enumerate(text):
        code = ord(char)
        if code in (0x0A, 0x09):
            continue
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or code in BIDI:
            found.append((index, code))
    return found


def check_human(paths):
    bad = 0
    for path in paths:
        with open(path, "rb") as handle:
            found = raw_controls(handle.read())
        if found:
            bad += 1
            shown = ", ".join(f"U+{code:04X}@{index}" for index, code in found[:8])
            print(f"{path}: {len(found)} raw control or bidi characters ({shown})")
    return 1 if bad else 0


class Server:
    """`sutradhar mcp` on pipes; one JSON-RPC message per line."""

    def __init__(self, argv, cwd):
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.buffer = b""
        self.next_id = 1

    def send_bytes(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message):
        self.send_bytes(json.dumps(message).encode() + b"\n")

    def read_message(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def answer(self, wanted_id, timeout=20):
        """The response to `wanted_id` (notifications skipped); None on silence."""
        while True:
            message = self.read_message(timeout)
            if message is None or message.get("id") == wanted_id:
                return message

    def request(self, method, params=None, timeout=20):
        ident = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.answer(ident, timeout)

    def alive(self):
        reply = self.request("tools/list", timeout=20)
        return reply is not None and "result" in reply

    def peak_rss_kib(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=20)
        except Exception:
            self.process.kill()


TRAVERSAL = ["../.env", "/etc/passwd", ".env", "../outside", "outside.yaml", "pipelines/demo.yaml", "demo/../../outside",
             "..", ".", "", "demo\u0000", "demo/", "%2e%2e/outside", "..\\outside", "~/.ssh/id_rsa", "/proc/self/environ",
             "evil", "DEMO" * 50, "demo.yaml", "\u202eomed", "a" * 5000]
STAGES = ["../../../../etc/passwd", "../../stolen", "..", "/etc/hostname", "noisy/../../../stolen", "", "noisy\u0000",
          "%2e%2e/stolen", "checkout/..", "../{run}/noisy"]


def text_of(reply):
    result = (reply or {}).get("result") or {}
    return json.dumps(reply), result.get("isError") is True


def mcp(args):
    rng = random.Random(args.seed)
    work = args.work
    secret = f"frontdoor-secret-{rng.randrange(10**12)}"
    os.makedirs(os.path.join(work, "pipelines"), exist_ok=True)
    with open(os.path.join(work, ".env"), "w") as handle:
        handle.write(f"API_TOKEN={secret}\n-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n")
    with open(os.path.join(work, "outside.yaml"), "w") as handle:
        handle.write("version: 1\nname: outside\nsource: { path: / }\nstages:\n  a:\n    container: { image: x, command: [true] }\n")
    with open(os.path.join(work, "stolen.log"), "w") as handle:
        handle.write(secret + "\n")
    with open(os.path.join(work, "pipelines", "demo.yaml"), "w") as handle:
        handle.write("version: 1\nname: demo\nsource: { path: ../src }\nstages:\n  a:\n    container: { image: x, command: [true] }\n")
    evil = os.path.join(work, "pipelines", "evil.yaml")
    if not os.path.lexists(evil):
        os.symlink(os.path.join(work, ".env"), evil)
    server = Server([args.sutradhar, "mcp", "--cache-dir", args.cache], cwd=work)
    tried = held = 0
    notes = []

    def outcome(name, ok):
        nonlocal tried, held
        tried += 1
        if ok:
            held += 1
        elif len(notes) < 6:
            notes.append(name)

    init = server.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                         "clientInfo": {"name": "frontdoors", "version": "1"}})
    if init is None:
        print(json.dumps({"tried": 1, "held": 0, "notes": "the server did not answer initialize", "peak_rss_kib": None}))
        return 0
    server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    for name in TRAVERSAL:
        for tool, arguments in (("validate_pipeline", {"pipeline": name}), ("run_pipeline", {"pipeline": name}),
                                ("doctor", {"pipelines": [name]})):
            reply = server.request("tools/call", {"name": tool, "arguments": arguments})
            text, refused = text_of(reply)
            outcome(f"{tool} {name[:30]!r}: {text[:160]}", reply is not None and refused and secret not in text
                    and "root:" not in text and "PRIVATE KEY" not in text)
    for stage in STAGES:
        stage = stage.replace("{run}", args.run)
        reply = server.request("tools/call", {"name": "get_stage_log", "arguments": {"run": args.run, "stage": stage}})
        text, refused = text_of(reply)
        outcome(f"get_stage_log {stage!r}: {text[:160]}", reply is not None and refused and secret not in text and "root:" not in text)

    # Arguments of every wrong shape, and frames that are not what they claim.
    def random_value(depth=0):
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 2**63, 1.5, 1e308])
        if kind == 3:
            return "".join(chr(rng.choice([0x2e, 0x2f, 0x41, 0x0, 0x1b, 0x202e, 0x61])) for _ in range(rng.randrange(40)))
        if kind == 4:
            return "x" * rng.randrange(70000)
        if kind == 5:
            return [random_value(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(["pipeline", "stage", "run", "tail", "limit", "offset", "source", "name", "x"]): random_value(depth + 1)
                for _ in range(rng.randrange(4))}

    tools = ["list_pipelines", "validate_pipeline", "run_pipeline", "list_runs", "get_run", "get_stage_log", "doctor",
             "cache_usage"]
    for round_index in range(args.rounds):
        for _ in range(60):
            name = rng.choice(tools + [random_value(), 42, None, ["get_run"]])
            arguments = rng.choice([random_value(), {"pipeline": random_value()}, {"run": random_value(), "stage": random_value()}])
            if name == "run_pipeline" and isinstance(arguments, dict):
                arguments["pipeline"] = rng.choice(TRAVERSAL)  # never a real run of the demo
            ident = server.next_id
            server.next_id += 1
            server.send({"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
            reply = server.answer(ident)
            text = json.dumps(reply) if reply else ""
            outcome(f"fuzzed call {str(name)[:30]}: {text[:160]}", reply is not None and secret not in text)
        for garbage in (b"{not json\n", b"\x00\xff\xfe\n", b'{"jsonrpc":"2.0","id":[1],"method":"tools/call"}\n',
                        b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_run","arguments":["run"]}}\n'):
            server.send_bytes(garbage)
        outcome(f"alive after garbage (round {round_index})", server.alive())
        # One frame over the 4 MiB bound, in pieces: refused with -32600, the server still answers.
        server.send_bytes(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' + b"a" * (5 * 1024 * 1024) + b'"}}\n')
        refused = server.answer(None, timeout=20)
        outcome(f"oversize frame (round {round_index}): {json.dumps(refused)[:160]}",
                refused is not None and (refused.get("error") or {}).get("code") == -32600 and server.alive())

    peak = server.peak_rss_kib()
    server.close()
    # The bound: a server holding one frame and one read (not the 5 MiB frames, not all the fuzz).
    bounded = peak is not None and peak < 96 * 1024
    outcome(f"peak RSS {peak} KiB over 96 MiB", bounded)
    print(json.dumps({"tried": tried, "held": held, "notes": " | ".join(notes), "peak_rss_kib": peak}))
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[1] == "controls":
        text = controls_text()
        print(printf_format(text))
        print(json.dumps(text))
        return 0
    if argv[1] == "check-human":
        return check_human(argv[2:])
    if argv[1] == "mcp":
        import argparse
        parser = argparse.ArgumentParser(prog="frontdoors.py mcp")
        for option in ("--sutradhar", "--work", "--run", "--cache"):
            parser.add_argument(option, required=True)
        parser.add_argument("--rounds", type=int, default=2)
        parser.add_argument("--seed", type=int, default=1)
        return mcp(parser.parse_args(argv[2:]))
    print(f"frontdoors.py: unknown command {argv[1]!r} (see --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
