#!/usr/bin/env python3
"""The pieces of Benchmarks/chaos.sh that are much easier in Python (standard library only):

  proxy SOCKET UPSTREAM [--die-on TEXT] [--die-after-ms MS] [--ready FILE] [--died FILE]
      A unix-socket proxy in front of a daemon (the rootless Docker daemon, nix-daemon). It dies
      (os._exit: the kernel closes every connection and the listening socket, as when the daemon
      is killed) when a client sends bytes containing TEXT (e.g. "/images/load": the daemon dies
      during a load) or MS milliseconds after the first client connected. It writes the epoch time
      of its death to --died first, so the suite can time how fast Sutradhar notices.
  mutate-defs OUTDIR COUNT SEED BASE.yaml...      COUNT mutated definitions (seeded)
  mutate-archives OUTDIR COUNT SEED BASE.tar.gz   COUNT mutated image archives (seeded)
  report ROWS.jsonl JSON_OUT [HEADER_JSON]        prints the table, writes the JSON
"""
import gzip
import io
import json
import os
import random
import socket
import sys
import tarfile
import threading
import time


# --- proxy ------------------------------------------------------------------------------------

def proxy(argv):
    path, upstream = argv[0], argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    die_on = opts.get("--die-on", "").encode() or None
    die_after = float(opts["--die-after-ms"]) / 1000 if "--die-after-ms" in opts else None
    died_file = opts.get("--died")
    lock = threading.Lock()
    started = []

    def die(why):
        with lock:
            if died_file:
                with open(died_file + ".tmp", "w") as f:
                    f.write("%.6f %s\n" % (time.time(), why))
                os.rename(died_file + ".tmp", died_file)
            os._exit(0)

    def pipe(src, dst, watch):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if watch and die_on and die_on in data:
                    die("saw " + die_on.decode())
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(64)
    if "--ready" in opts:
        open(opts["--ready"], "w").close()
    while True:
        client, _ = server.accept()
        if die_after is not None and not started:
            started.append(True)
            threading.Timer(die_after, die, ("timer",)).start()
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(upstream)
        except OSError:
            client.close()
            continue
        threading.Thread(target=pipe, args=(client, up, True), daemon=True).start()
        threading.Thread(target=pipe, args=(up, client, False), daemon=True).start()


# --- hostile definitions ----------------------------------------------------------------------

HOSTILE_VALUES = [
    "", "~", "null", "[]", "{}", "-1", "0", "1e400", "99999999999999999999999GiB", "-5s", "1y",
    "0s", "NaN", ".inf", "!!python/object:os.system ls", "&a [*a]", "*nope", "'unterminated",
    '"\\u0000"', "\u202e\u0645", "x" * 70000, "[" * 5000 + "]" * 5000, "{" * 3000,
    "/var/run/docker.sock:/s", "../../etc:/x", "host", "true", "- - - -", "? complex : key",
    "|\n  block", ">-", "%YAML 1.1", "---", "...", "\t\ttab", "0x7fffffffffffffff", "1:2:3",
]
HOSTILE_KEYS = [
    "needs", "from", "image", "timeout", "limits", "privileged", "network", "mounts", "env",
    "cap-add", "devices", "pid", "probe", "nix-build", "docker-load", "smoke", "container",
    "installable", "tags", "command", "expect-exit", "attempts", "interval", "memory", "cache",
    "source", "git", "path", "ref", "stages", "version", "name", "volumes", "security-opt", "<<",
    "runtime", "ready-when-log",
]
BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((ord("a") + i + 1,) * 2 + (ord("a") + i,) * 9)
    for i in range(9))


def mutate_definition(rng, text):
    lines = text.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(10)
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines = [b""]
        if choice == 0:  # a character flipped
            line = bytearray(lines[i] or b" ")
            line[rng.randrange(len(line))] = rng.choice(b":-{}[]&*!%#|>'\"\t\x00\xff, ?@`")
            lines[i] = bytes(line)
        elif choice == 1:
            del lines[i]
        elif choice == 2:
            lines.insert(i, lines[i])
        elif choice == 3:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif choice == 4:  # indentation changed
            delta = rng.choice([-4, -2, -1, 1, 2, 4])
            lines[i] = lines[i][-delta:] if delta < 0 else b" " * delta + lines[i]
        elif choice == 5:  # a key inserted at some level
            key = rng.choice(HOSTILE_KEYS).encode()
            value = rng.choice(HOSTILE_VALUES).encode()
            lines.insert(i, b" " * rng.choice([0, 2, 4, 6, 8]) + key + b": " + value)
        elif choice == 6:  # a value replaced
            if b":" in lines[i]:
                head = lines[i].split(b":", 1)[0]
                lines[i] = head + b": " + rng.choice(HOSTILE_VALUES).encode()
        elif choice == 7:  # truncated
            joined = b"\n".join(lines)
            return joined[: rng.randrange(len(joined) + 1)]
        elif choice == 8:
            lines.insert(i, BOMB.replace(b"\n", b"\n" + b" " * 0))
        else:  # raw bytes
            lines.insert(i, bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    return b"\n".join(lines)


def mutate_defs(argv):
    out, count, seed, bases = argv[0], int(argv[1]), int(argv[2]), argv[3:]
    rng = random.Random(seed)
    texts = [open(b, "rb").read() for b in bases]
    os.makedirs(out, exist_ok=True)
    for n in range(count):
        with open(os.path.join(out, "def-%05d.yaml" % n), "wb") as f:
            f.write(mutate_definition(rng, rng.choice(texts)))


# --- hostile archives -------------------------------------------------------------------------

def tar_of(members):
    """members: list of (name, bytes or TarInfo-tweaker)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, tweak in members:
            info = tarfile.TarInfo(name)
            info.size = len(data) if data is not None else 0
            if tweak:
                tweak(info)
            tar.addfile(info, io.BytesIO(data) if data is not None and info.isfile() else None)
    return buf.getvalue()


def mutate_archive(rng, n, base_tar, files):
    kind = n % 12
    manifest = json.loads(files["manifest.json"])
    config_name = manifest[0]["Config"]
    tag = "sutradhar-chaos-hostile:m%d" % n

    def rebuild(new_manifest=None, extra=(), drop=(), tweak=None):
        members = []
        for name, data in files.items():
            if name in drop:
                continue
            if name == "manifest.json" and new_manifest is not None:
                data = new_manifest if isinstance(new_manifest, bytes) else json.dumps(new_manifest).encode()
            members.append((name, data, tweak if name != "manifest.json" else None))
        members.extend(extra)
        return tar_of(members)

    good = [dict(manifest[0], RepoTags=[tag])]
    if kind == 0:  # bytes flipped anywhere
        data = bytearray(base_tar)
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 1:  # truncated
        return base_tar[: rng.randrange(len(base_tar))]
    if kind == 2:  # a hostile manifest
        return rebuild(rng.choice([
            [], {}, "x", [{}], 12, None, [None], [{"Config": None, "Layers": None}],
            [dict(good[0], Config="missing.json")], [dict(good[0], Layers=[])],
            [dict(good[0], Layers=["../../../../etc/passwd"])], [dict(good[0], Layers=["/etc/shadow"])],
            [dict(good[0], Layers=["layer/layer.tar"] * 5000)], [dict(good[0], RepoTags=["UPPER:Case"])],
            [dict(good[0], RepoTags=["a" * 20000])], [dict(good[0], RepoTags=[123])],
            [dict(good[0], Config="../" + config_name)], good * 200,
        ]))
    if kind == 3:  # manifest not JSON, deeply nested, or huge
        return rebuild(rng.choice([b"[" * 100000, b"\xff\xfe\x00", b"", b'[{"Config": "' + b"A" * 3_000_000 + b'"}]',
                                   b'[{"Config": "%s", "Layers": ["layer/layer.tar"]}' % config_name.encode()]))
    if kind == 4:  # the config cut, missing or not JSON
        cut = dict(files)
        cut[config_name] = files[config_name][: rng.randrange(len(files[config_name]))]
        return tar_of([(k, v, None) for k, v in cut.items() if not (rng.random() < 0.3 and k == config_name)])
    if kind == 5:  # a symlink or hardlink escaping the archive
        def link(info):
            info.type = rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE])
            info.linkname = rng.choice(["/etc/passwd", "../../../../etc/shadow", "manifest.json", config_name])
            info.size = 0
        members = [(k, v if k != "layer/layer.tar" else None, link if k == "layer/layer.tar" else None)
                   for k, v in files.items() if k != "manifest.json"]
        members.append(("manifest.json", json.dumps(good).encode(), None))
        return tar_of(members)
    if kind == 6:  # the manifest twice, or a folder named manifest.json
        def folder(info):
            info.type = tarfile.DIRTYPE
            info.size = 0
        return rebuild(good, extra=rng.choice([[("manifest.json", b"[]", None)], [("manifest.json/", None, folder)]]))
    if kind == 7:  # a header that claims a huge size
        data = bytearray(base_tar)
        # the first member's size field: 12 octal bytes at offset 124
        data[124:136] = b"77777777777\x00"
        return bytes(data)
    if kind == 8:  # many tiny entries and a long name
        extra = [("x/%06d" % i, b"", None) for i in range(rng.choice([1000, 20000]))]
        extra.append(("L" * 5000, b"long", None))
        return rebuild(good, extra=extra)
    if kind == 9:  # random bytes, or nothing
        return rng.choice([b"", os.urandom(rng.randint(1, 100000)), b"\x1f\x8b" + os.urandom(1000)])
    if kind == 10:  # a layer that inflates a lot (gzip bomb inside a gzip stream)
        return rebuild(good, extra=[("bomb", b"\x00" * (rng.choice([1, 32]) << 20), None)])
    # kind 11: a manifest that loads, under our own tag (the control: some archives must pass)
    return rebuild(good)


def mutate_archives(argv):
    out, count, seed, base = argv[0], int(argv[1]), int(argv[2]), argv[3]
    rng = random.Random(seed)
    raw = open(base, "rb").read()
    base_tar = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    with tarfile.open(fileobj=io.BytesIO(base_tar)) as tar:
        files = {m.name.lstrip("./") or ".": tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    os.makedirs(out, exist_ok=True)
    for n in range(count):
        data = mutate_archive(rng, n, base_tar, files)
        if rng.random() < 0.5:
            data = gzip.compress(data, compresslevel=1, mtime=0)
            if rng.random() < 0.2:  # a broken gzip stream
                data = bytearray(data)
                data[rng.randrange(10, max(11, len(data)))] ^= 0xFF
                data = bytes(data)
        with open(os.path.join(out, "archive-%05d" % n), "wb") as f:
            f.write(data)


# --- why a run failed -------------------------------------------------------------------------

def why_failed(argv):
    """The first failed stage of each run whose summary (the last JSON line of FILE) did not pass:
    "STAGE CODE: ERROR" — what a row's note says instead of a bare count."""
    for path in argv:
        try:
            summary = json.loads(open(path).read().strip().splitlines()[-1])
        except (OSError, IndexError, ValueError):
            print("%s: no summary" % path.rsplit("/", 1)[-1])
            continue
        if summary.get("status") == "passed":
            continue
        failed = [s for s in summary.get("stages", []) if s.get("status") == "failed"]
        if failed:
            stage = failed[0]
            print("%s %s: %s" % (stage["name"], stage.get("code", "?"), stage.get("error", "")[:160]))
        else:
            print("%s: %s" % (summary.get("status"), summary.get("environment_problem", "")[:160]))


# --- report -----------------------------------------------------------------------------------

def report(argv):
    rows = [json.loads(line) for line in open(argv[0]) if line.strip()]
    header = json.loads(argv[2]) if len(argv) > 2 else {}
    widths = (34, 6, 5, 10, 10)
    line = "%-34s %6s %5s %10s %10s  %s"
    print(line % ("fault", "tried", "held", "median ms", "max ms", "notes"))
    print("-" * 110)
    for r in rows:
        print(line % (r["fault"][:widths[0]], r["tried"], r["held"], r.get("median_ms", "-"),
                      r.get("max_ms", "-"), r.get("notes", "")))
    everything = dict(header, rows=rows, all_held=all(r["tried"] > 0 and r["held"] == r["tried"] for r in rows))
    with open(argv[1], "w") as f:
        json.dump(everything, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    {"proxy": proxy, "mutate-defs": mutate_defs, "mutate-archives": mutate_archives, "report": report, "why-failed": why_failed}[command](rest)
