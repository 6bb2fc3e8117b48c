"""The dashboard benchmark's client (Benchmarks/dashboard-benchmark.sh starts the server first).

    dashboard-benchmark.py BASE_URL SERVER_PID CACHE_DIR GENERATOR ROUNDS CLIENTS STAGES INTERVAL_MS [LOG_MB READERS]

1. Latency: ROUNDS requests of the runs page (`/`, first page) and ROUNDS of a run page
   (`/runs/ID`, over the first page's runs), interleaved, from this process on the same machine:
   Python's http.client on one keep-alive connection, timed from sending the request to the last
   byte of the body (so: the server's time plus loopback, no browser rendering).
2. Memory: the server's VmRSS (/proc/PID/status) after a warm-up and after every 100 of those
   requests.
3. Live: CLIENTS plain-HTTP clients (threads, not browsers: they read the event stream as
   EventSource does, and render nothing) follow one run's `/runs/ID/events` while GENERATOR records
   it live (STAGES stages, one finishing every INTERVAL_MS). Each must see every stage turn
   `passed`; the latency of each is the receipt time minus the stage-finished event's own time
   stamp (from the run's events.jsonl, milliseconds). The server's RSS and CPU are sampled
   meanwhile, and the runs page is timed again, on its own connection, while the feeds run.
4. Slow readers (when LOG_MB > 0): GENERATOR records a run whose one stage logged LOG_MB MB;
   READERS clients download `/runs/ID/logs/build` at once, each reading 64 KiB every 10 ms
   (about 6 MB/s: slower than the server can send, so back-pressure is what holds memory down).
   Meanwhile as many feeds of that run (`/runs/ID/events`) read 64 KiB and stall. The server's
   RSS is sampled, and the runs page and that run's page are timed.
"""

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from urllib.parse import urlparse

def time_page(base, path):
    """`--time-page BASE PATH`: GETs PATH until a line arrives on stdin; prints the times (ms)."""
    target = urlparse(base)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    own = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    times = []
    while not stop.is_set():
        started = time.perf_counter()
        own.request("GET", path)
        response = own.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"GET {path}: {response.status}")
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    print(" ".join(f"{value:.3f}" for value in times))
    sys.exit(0)


if sys.argv[1] == "--time-page":
    time_page(sys.argv[2], sys.argv[3])

base, pid, cache, generator = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rounds, clients, stages, interval = (int(value) for value in sys.argv[5:9])
log_megabytes = int(sys.argv[9]) if len(sys.argv) > 9 else 0
readers = int(sys.argv[10]) if len(sys.argv) > 10 else 8
url = urlparse(base)
TICKS = os.sysconf("SC_CLK_TCK")


def rss_kib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def describe(milliseconds):
    return (f"median {statistics.median(milliseconds):.2f} ms, p99 {percentile(milliseconds, 0.99):.2f} ms, "
            f"max {max(milliseconds):.2f} ms ({len(milliseconds)} requests)")


connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def timed_get(path):
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed, body.decode("utf-8")


# --- 1 and 2: latency and memory ------------------------------------------------------------
_, first_page = timed_get("/")
run_ids = re.findall(r'data-run-id="([^"]+)"', first_page)
if not run_ids:
    sys.exit("the runs page lists no runs (data-run-id)")
for index in range(20):  # warm-up: first requests fill caches and allocate pools
    timed_get("/")
    timed_get(f"/runs/{run_ids[index % len(run_ids)]}")
memory = [(0, rss_kib())]
runs_page, run_page = [], []
for index in range(rounds):
    runs_page.append(timed_get("/")[0])
    run_page.append(timed_get(f"/runs/{run_ids[index % len(run_ids)]}")[0])
    done = 2 * (index + 1)
    if done % 100 == 0:
        memory.append((done, rss_kib()))
connection.close()
print(f"runs page (/, first page of {len(run_ids)} runs): {describe(runs_page)}")
print(f"run page (/runs/ID): {describe(run_page)}")
print("server RSS after N requests (MiB): " + ", ".join(f"{n}: {kib / 1024:.1f}" for n, kib in memory))
steady = [kib for n, kib in memory if n >= 200]
if steady:
    print(f"RSS from 200 to {memory[-1][0]} requests: {(max(steady) - min(steady)) / 1024:.1f} MiB apart")

# --- 3: clients following one live run over SSE ----------------------------------------------
live = subprocess.Popen([generator, "live", "--cache-dir", cache, "--stages", str(stages), "--interval-ms", str(interval),
                         "--start-delay-ms", "5000"], stdout=subprocess.PIPE, text=True)
first_line = live.stdout.readline().strip()
if not first_line.startswith("run: "):
    sys.exit(f"the generator said {first_line!r}")
run = first_line[len("run: "):]
STAGE_ROW = re.compile(r'<tr\b[^>]*>')
received = [dict() for _ in range(clients)]  # client -> {stage: receipt time}
ended = [False] * clients
connected = threading.Barrier(clients + 1, timeout=60)
errors = []


def follow(client):
    try:
        stream = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        stream.request("GET", f"/runs/{run}/events", headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        if response.status != 200:
            raise RuntimeError(f"/runs/{run}/events: {response.status}")
        connected.wait()
        event, data = None, []
        while True:
            line = response.fp.readline()
            if not line:
                break
            line = line.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == "":
                now = time.time()
                payload = "\n".join(data)
                for tag in STAGE_ROW.findall(payload):
                    stage = re.search(r'data-stage="([^"]+)"', tag)
                    status = re.search(r'data-status="([^"]+)"', tag)
                    if stage and status and status.group(1) == "passed":
                        received[client].setdefault(stage.group(1), now)
                if event == "done":
                    ended[client] = True
                    break
                event, data = None, []
        stream.close()
    except Exception as error:  # one client's failure is reported, not hidden
        errors.append(f"client {client}: {error}")
        try:
            connected.abort()
        except Exception:
            pass


class PageTimer:
    """Times one page again and again, on its own keep-alive connection, in a process of its own
    (this one's 200 follower threads would otherwise hold Python's lock and be timed too), until
    `finish`; its times come back as one line of numbers."""

    def __init__(self, path):
        self.path = path

    def start(self):
        self.process = subprocess.Popen([sys.executable, __file__, "--time-page", base, self.path],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def finish(self):
        output, _ = self.process.communicate("stop\n", timeout=120)
        if self.process.returncode != 0:
            errors.append(f"timing {self.path} failed")
        return [float(value) for value in output.split()]


threads = [threading.Thread(target=follow, args=(client,), daemon=True) for client in range(clients)]
for thread in threads:
    thread.start()
connected.wait()  # every client is connected before the first stage starts (the generator waits 5 s)
runs_page_during_feeds = PageTimer("/")
runs_page_during_feeds.start()
samples, cpu_before, began = [], cpu_seconds(), time.monotonic()
while live.poll() is None or any(thread.is_alive() for thread in threads):
    samples.append(rss_kib())
    time.sleep(0.25)
    if time.monotonic() - began > 60 + stages * interval / 1000 * 4:  # a bound only against a hang
        errors.append("the live run or its followers did not end in time")
        break
cpu_used, wall = cpu_seconds() - cpu_before, time.monotonic() - began
live.stdout.close()
during_feeds = runs_page_during_feeds.finish()

finished = {}
with open(os.path.join(cache, "runs", run, "events.jsonl")) as lines:
    for line in lines:
        event = json.loads(line)
        if event["event"] == "stage-finished":
            finished[event["stage"]] = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
latencies, missing = [], 0
for client in range(clients):
    for stage, at in finished.items():
        if stage in received[client]:
            latencies.append((received[client][stage] - at) * 1000)
        else:
            missing += 1
print(f"live run {run}: {clients} SSE clients (Python threads reading /runs/ID/events, not browsers), {len(finished)} stages, "
      f"one every {interval} ms")
print(f"  every client saw every stage pass: {'yes' if missing == 0 and not errors else 'NO'} "
      f"({missing} missing, {sum(ended)}/{clients} got 'done')")
if latencies:
    print(f"  delivery latency, event time to receipt: median {statistics.median(latencies):.1f} ms, "
          f"max {max(latencies):.1f} ms ({len(latencies)} deliveries)")
print(f"  server during it: RSS {min(samples) / 1024:.1f} to {max(samples) / 1024:.1f} MiB, "
      f"CPU {cpu_used:.2f} s over {wall:.1f} s ({100 * cpu_used / wall:.0f}% of one core)")
if during_feeds:
    print(f"  runs page meanwhile: {describe(during_feeds)}")

# --- 4: slow readers of a big log ------------------------------------------------------------
if log_megabytes > 0:
    print(f"writing a run with a {log_megabytes} MB log through the recorder ...", flush=True)
    made = subprocess.run([generator, "big-log", "--cache-dir", cache, "--megabytes", str(log_megabytes)],
                          stdout=subprocess.PIPE, text=True, check=True)
    big = made.stdout.strip().splitlines()[-1][len("run: "):]
    rss_before_readers = rss_kib()
    downloaded = [0] * readers

    def read_slowly(reader):
        try:
            stream = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            stream.request("GET", f"/runs/{big}/logs/build")
            response = stream.getresponse()
            if response.status != 200:
                raise RuntimeError(f"/runs/{big}/logs/build: {response.status}")
            while True:
                piece = response.read(64 * 1024)
                if not piece:
                    break
                downloaded[reader] += len(piece)
                time.sleep(0.01)
            stream.close()
        except Exception as error:
            errors.append(f"reader {reader}: {error}")

    # As many feeds of the same (finished) run that read its first 64 KiB and then stall, as a
    # browser tab in the background would: the server must hold their place, not their events.
    stalled = []
    for _ in range(readers):
        feed = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        feed.request("GET", f"/runs/{big}/events", headers={"Accept": "text/event-stream"})
        answer = feed.getresponse()
        if answer.status != 200:
            errors.append(f"/runs/{big}/events: {answer.status}")
        answer.read(64 * 1024)
        stalled.append(feed)
    slow = [threading.Thread(target=read_slowly, args=(reader,), daemon=True) for reader in range(readers)]
    runs_page_during_readers, run_page_during_readers = PageTimer("/"), PageTimer(f"/runs/{big}")
    began, samples = time.monotonic(), []
    for thread in slow + [runs_page_during_readers, run_page_during_readers]:
        thread.start()
    while any(thread.is_alive() for thread in slow):
        samples.append(rss_kib())
        time.sleep(0.25)
        if time.monotonic() - began > 600:
            errors.append("the slow readers did not end within 600 s")
            break
    wall = time.monotonic() - began
    for feed in stalled:
        feed.close()
    runs_times, run_times = runs_page_during_readers.finish(), run_page_during_readers.finish()
    size = os.path.getsize(os.path.join(cache, "runs", big, "build.log")) if os.path.exists(
        os.path.join(cache, "runs", big, "build.log")) else None
    complete = all(count == downloaded[0] for count in downloaded) and (size is None or downloaded[0] == size)
    print(f"slow readers: {readers} clients reading /runs/{big}/logs/build ({downloaded[0] / 1e6:.1f} MB each, "
          f"64 KiB every 10 ms) over {wall:.1f} s; all got the whole log: {'yes' if complete else 'NO'} ({downloaded}); "
          f"meanwhile {len(stalled)} feeds of that run stalled after 64 KiB")
    print(f"  server RSS: {rss_before_readers / 1024:.1f} MiB before, {min(samples) / 1024:.1f} to {max(samples) / 1024:.1f} MiB meanwhile")
    if runs_times:
        print(f"  runs page meanwhile: {describe(runs_times)}")
    if run_times:
        print(f"  that run's page (its log's tail) meanwhile: {describe(run_times)}")
    if not complete:
        errors.append("a slow reader did not get the whole log")

for error in errors:
    print(f"  error: {error}")
sys.exit(0 if missing == 0 and not errors else 1)
