"""The chaos suite's traceparent row: hostile W3C trace contexts through both ways in.

Usage: chaos_traceparent.py --sutradhar S --work DIR --pipeline-file FILE --cache DIR --commit SHA
                            --endpoint URL --spans FILE --rounds N --seed S

Each context goes in as TRACEPARENT of `sutradhar run --json` and as `_meta.traceparent` of an MCP
`run_pipeline` call (one `sutradhar mcp` for all, spoken to in raw JSON-RPC over stdio); the run is
a cached rerun, so only the trace context differs. A context holds when the run passes, its
summary's trace_id is 32 lowercase hex and not all zero (the caller's for a valid context, a trace
of its own otherwise), the OTLP receiver got the run's root span under that trace ID, no escape
byte reached standard error, and the MCP server is still serving. Prints one JSON object:
{"tried", "held", "notes"}.
"""
import argparse, json, os, random, re, subprocess, time

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def hostile_contexts(rounds, rng):
    fixed = [
        VALID,
        VALID.upper(),                                       # upper-case hex is invalid per W3C
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",           # all-zero trace ID
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        VALID + "-extra", VALID[:-1], "00--" + "-01", "-", "",
        "00-not-a-trace\x1b[31m-01", "\x1b]0;owned\x07" + VALID, VALID + "\n" + VALID, "\u202e" + VALID,
        "00-" + "é" * 32 + "-00f067aa0ba902b7-01",
        "x" * 60_000,                                        # near the environment's per-string limit
    ]
    mutated = []
    for _ in range(rounds):
        chars = list(VALID)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars))
            chars[position] = rng.choice("0123456789abcdefABCDEF-xz \x00\x1b\x7f") if rng.random() < 0.9 else ""
        mutated.append("".join(chars).replace("\x00", ""))   # an environment string cannot hold NUL
    return fixed + mutated


def expected_trace(context):
    """The caller's trace ID when the context is valid W3C, else None (a trace of its own)."""
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", context)
    if not m or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1)


def received_root(spans_file, trace_id, deadline=10):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with open(spans_file) as f:
                for line in f:
                    span = json.loads(line)
                    if span["trace_id"] == trace_id and span["name"].startswith("BUILD "):
                        return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


def judge(context, summary, stderr, spans_file):
    problems = []
    if not summary or summary.get("status") != "passed":
        problems.append(f"status {summary and summary.get('status')}")
    trace_id = (summary or {}).get("trace_id") or ""
    if not HEX32.match(trace_id) or trace_id == "0" * 32:
        problems.append(f"trace_id {trace_id!r}")
    want = expected_trace(context)
    if want and trace_id != want:
        problems.append(f"trace_id {trace_id} is not the caller's {want}")
    if not want and trace_id == "4bf92f3577b34da6a3ce929d0e0e4736":
        problems.append("an invalid context was continued")
    if "\x1b" in stderr:
        problems.append("an escape byte on stderr")
    if HEX32.match(trace_id) and not received_root(spans_file, trace_id):
        problems.append("no root span received")
    return problems


class MCP:
    def __init__(self, sutradhar, cwd, cache, environment):
        self.process = subprocess.Popen([sutradhar, "mcp", "--cache-dir", cache], cwd=cwd, env=environment, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.next_id = 0
        self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "chaos", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def call(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the MCP server closed its output")
            message = json.loads(line)
            if message.get("id") == self.next_id:
                return message

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main():
    parser = argparse.ArgumentParser()
    for name in ("sutradhar", "work", "pipeline-file", "cache", "commit", "endpoint", "spans"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=args.endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="10000")
    base.pop("TRACEPARENT", None)
    tried = held = 0
    notes = []
    contexts = hostile_contexts(args.rounds, rng)
    for context in contexts:
        tried += 1
        done = subprocess.run([args.sutradhar, "run", args.pipeline_file, "--cache-dir", args.cache, "--commit", args.commit, "--json"],
                              env=dict(base, TRACEPARENT=context), capture_output=True, text=True, errors="replace", timeout=600)
        events = [json.loads(l) for l in done.stdout.splitlines() if l.startswith("{")]
        summary = next((e for e in reversed(events) if e.get("event") == "run-finished"), None)
        problems = judge(context, summary, done.stderr, args.spans)
        if problems:
            notes.append(f"TRACEPARENT {context[:40]!r}: {', '.join(problems)}")
        else:
            held += 1
    pipeline = os.path.splitext(os.path.basename(args.pipeline_file))[0]
    server = MCP(args.sutradhar, os.path.dirname(os.path.dirname(args.pipeline_file)), args.cache,
                 dict(base, TRACEPARENT="00-11111111111111111111111111111111-2222222222222222-01"))
    try:
        # Not only strings: whatever JSON a client puts there.
        for context in contexts + [12, None, ["00"], {"traceparent": VALID}, "y" * (1 << 20)]:
            tried += 1
            answer = server.call("tools/call", {"name": "run_pipeline", "_meta": {"traceparent": context},
                                                "arguments": {"pipeline": pipeline, "commit": args.commit}})
            summary = (answer.get("result") or {}).get("structuredContent")
            problems = judge(context if isinstance(context, str) else "", summary, "", args.spans)
            if (summary or {}).get("trace_id") == "11111111111111111111111111111111":
                problems.append("the server's own TRACEPARENT was applied")
            if problems:
                notes.append(f"_meta.traceparent {str(context)[:40]!r}: {', '.join(problems)}")
            else:
                held += 1
        alive = server.call("tools/list", {})
        if "result" not in alive:
            notes.append("the MCP server stopped answering")
            held -= 1
    finally:
        server.close()
    print(json.dumps({"tried": tried, "held": held, "notes": " | ".join(notes[:6]) + (f" (+{len(notes) - 6})" if len(notes) > 6 else "")}))


main()
