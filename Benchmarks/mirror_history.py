#!/usr/bin/env python3
"""Writes a `git fast-import` stream of a repository with a long, realistic history, for
Benchmarks/mirror-benchmark.sh.

    mirror_history.py --commits 20000 [--files 1500] [--seed 1] | git fast-import --quiet

The history: a tree of FILES source files (about 60 lines each) in about 60 folders, then COMMITS
commits on `main`, each changing one to four files by a few lines (edits, insertions, deletions),
now and then adding or removing a file; a branch `release/N` and an annotated tag `vN` every 1,000
commits. Deterministic for a given seed, so two runs compare the same repository.
"""
import argparse
import random
import sys

WORDS = ("value index count buffer result offset length state config parser writer reader entry "
         "object commit tree blob packet stream handle cursor source target mirror remote branch "
         "update fetch merge resolve record").split()


def line(rng):
    kind = rng.random()
    a, b, c = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
    if kind < 0.4:
        return f"    {a}_{rng.randrange(100)} = {b}_{c}({rng.choice(WORDS)}, {rng.randrange(1000)});"
    if kind < 0.6:
        return f"    if ({a} < {b}_{rng.randrange(50)}) return {c};"
    if kind < 0.75:
        return f"    /* {a} {b} {c}: keep the {rng.choice(WORDS)} in step with the {rng.choice(WORDS)} */"
    if kind < 0.9:
        return f"static int {a}_{b}_{rng.randrange(500)}(struct {c} *{rng.choice(WORDS)});"
    return "}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=20000)
    parser.add_argument("--files", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    out = sys.stdout.buffer
    files = {}
    for number in range(options.files):
        path = f"src/{rng.choice(WORDS)}-{number % 60:02d}/{rng.choice(WORDS)}_{number}.c"
        files[path] = [line(rng) for _ in range(rng.randrange(20, 100))]
    paths = sorted(files)
    time = 1_500_000_000
    mark = 0

    def blob(content):
        nonlocal mark
        mark += 1
        data = ("\n".join(content) + "\n").encode()
        out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
        return mark

    def commit(message, changes, deletions=()):
        nonlocal mark, time
        marks = [(path, blob(files[path])) for path in changes]
        mark += 1
        time += rng.randrange(60, 7200)
        message = message.encode()
        out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.write(b"author Bench Author <bench@example.invalid> %d +0000\n" % time)
        out.write(b"committer Bench Author <bench@example.invalid> %d +0000\n" % time)
        out.write(b"data %d\n%s\n" % (len(message), message))
        for path in deletions:
            out.write(b"D %s\n" % path.encode())
        for path, blob_mark in marks:
            out.write(b"M 100644 :%d %s\n" % (blob_mark, path.encode()))
        out.write(b"\n")
        return mark

    commit("initial import", paths)
    for number in range(1, options.commits):
        changed = set()
        deleted = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            path = rng.choice(paths)
            content = files[path]
            at = rng.randrange(len(content))
            edit = rng.random()
            if edit < 0.5:
                content[at:at + rng.randrange(1, 4)] = [line(rng) for _ in range(rng.randrange(1, 4))]
            elif edit < 0.8:
                content[at:at] = [line(rng) for _ in range(rng.randrange(1, 8))]
            elif len(content) > 10:
                del content[at:at + rng.randrange(1, 4)]
            changed.add(path)
        if rng.random() < 0.03:
            path = f"src/{rng.choice(WORDS)}-{rng.randrange(60):02d}/{rng.choice(WORDS)}_n{number}.c"
            files[path] = [line(rng) for _ in range(rng.randrange(20, 100))]
            paths.append(path)
            changed.add(path)
        if rng.random() < 0.01 and len(paths) > 100:
            path = paths.pop(rng.randrange(len(paths)))
            if path not in changed:
                del files[path]
                deleted.append(path)
            else:
                paths.append(path)
        commit_mark = commit(f"{rng.choice(WORDS)}: {rng.choice(WORDS)} the {rng.choice(WORDS)} ({number})",
                             sorted(changed), deleted)
        if number % 1000 == 0:
            release = number // 1000
            out.write(b"reset refs/heads/release/%d\nfrom :%d\n\n" % (release, commit_mark))
            text = b"release %d" % release
            out.write(b"tag v%d\nfrom :%d\ntagger Bench Author <bench@example.invalid> %d +0000\ndata %d\n%s\n"
                      % (release, commit_mark, time, len(text), text))
    out.write(b"done\n")


if __name__ == "__main__":
    main()
