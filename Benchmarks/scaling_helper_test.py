#!/usr/bin/env python3
"""Tests of the scaling benchmark's arithmetic (Benchmarks/scaling_helper.py), on made-up events:
how a run's time to verdict is split, that a failed run is reported and never averaged in, and
where a build ran. No daemon, no nix, no timing:  python3 Benchmarks/scaling_helper_test.py
"""

import datetime
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaling_helper  # noqa: E402

T0 = 1_800_000_000.0  # an epoch second; every event below is an offset from it


def stamp(offset):
    """The RFC 3339 `time` of an event `offset` seconds after T0 (milliseconds, as Sutradhar writes)."""
    moment = datetime.datetime.fromtimestamp(T0 + offset, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def passed_run_events(queued_at=None, builder=None, status="passed"):
    """A whole run's events: run-started at 0.1 s, (queued), checkout 1.0–1.2, image 1.2–3.2 with
    `building` at 1.5, load 3.2–3.7, smoke 3.7–4.7, run-finished at 4.8."""
    building = "building '/nix/store/x-hello-server-image.tar.gz.drv'" + (f" on '{builder}'" if builder else "") + "..."
    events = [{"event": "run-started", "time": stamp(0.1)}]
    if queued_at is not None:
        events.append({"event": "queued", "time": stamp(queued_at), "reason": "all 2 run slots are busy"})
    events += [
        {"event": "stage-started", "time": stamp(1.0), "stage": "checkout"},
        {"event": "stage-finished", "time": stamp(1.2), "stage": "checkout"},
        {"event": "stage-started", "time": stamp(1.2), "stage": "image"},
        {"event": "log", "time": stamp(1.3), "stage": "image", "line": "nix build path:/x#docker-image"},
        {"event": "log", "time": stamp(1.5), "stage": "image", "line": building},
        {"event": "stage-finished", "time": stamp(3.2), "stage": "image"},
        {"event": "stage-started", "time": stamp(3.2), "stage": "load"},
        {"event": "stage-finished", "time": stamp(3.7), "stage": "load"},
        {"event": "stage-started", "time": stamp(3.7), "stage": "smoke"},
        {"event": "stage-finished", "time": stamp(4.7), "stage": "smoke"},
        {"event": "run-finished", "time": stamp(4.8), "run": "r1", "status": status,
         "stages": [{"name": "image", "status": "passed", "cached": False},
                    {"name": "smoke", "status": status, "error": None if status == "passed" else "probe never answered"}]},
    ]
    return events


class AnalyseTests(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def run_record(self, events, name="a.jsonl", exit_status=0, agents=2, round_number=1, index=0, exited=5.0):
        path = os.path.join(self.folder.name, name)
        with open(path, "w", encoding="utf-8") as handle:
            for event in events:
                handle.write(json.dumps(event) + "\n")
            handle.write('{"event": "log", "cut sho')  # a line cut short (a killed writer) is skipped
        return {"mode": "local", "agents": agents, "round": round_number, "index": index, "commit": "c" * 40,
                "launched": T0, "exited": T0 + exited, "exit_status": exit_status, "events": path}

    def testQueuedRunSplitsItsTimeIntoPhasesThatAddUpToTheTimeToVerdict(self):
        result = scaling_helper.analyse(self.run_record(passed_run_events(queued_at=0.3)))
        self.assertTrue(result["passed"])
        phases = result["phases_s"]
        expected = {"startup": 0.1, "preflight": 0.2, "queue": 0.7, "checkout": 0.2, "eval": 0.3,
                    "build": 1.7, "load": 0.5, "smoke": 1.0, "other": 0.3}
        for key, value in expected.items():
            self.assertAlmostEqual(phases[key], value, places=3, msg=key)
        self.assertAlmostEqual(sum(phases.values()), result["time_to_verdict_s"], places=6)
        self.assertEqual(result["built_on"], "local")

    def testRunThatNeverQueuedHasNoQueueTime(self):
        phases = scaling_helper.analyse(self.run_record(passed_run_events()))["phases_s"]
        self.assertEqual(phases["queue"], 0.0)
        self.assertAlmostEqual(phases["preflight"], 0.9, places=3)

    def testRemoteBuildIsAttributedToTheBuilderNixNamed(self):
        result = scaling_helper.analyse(self.run_record(passed_run_events(builder="ssh-ng://root@10.231.0.2")))
        self.assertEqual(result["built_on"], "ssh-ng://root@10.231.0.2")

    def testFailedRunIsReportedWithWhyAndLeftOutOfTheFigures(self):
        good = self.run_record(passed_run_events(), name="good.jsonl", index=0, exited=5.0)
        bad = self.run_record(passed_run_events(status="failed"), name="bad.jsonl", index=1, exit_status=1, exited=60.0)
        results = [scaling_helper.analyse(good), scaling_helper.analyse(bad)]
        self.assertFalse(results[1]["passed"])
        self.assertIn("probe never answered", results[1]["why"])
        level = scaling_helper.summarise_level("local", 2, [good, bad], results, "local")
        self.assertEqual((level["runs"], level["passed"]), (2, 1))
        self.assertEqual(len(level["failed"]), 1)
        # The 60 s failure is in no time figure: the only passed run took 5 s.
        self.assertEqual(level["time_to_verdict_s"]["p95"], 5.0)
        self.assertEqual(level["time_to_verdict_s"]["median"], 5.0)

    def testSummariseExitsOneWhenARunDidNotPassAndStillWritesTheReport(self):
        runs_path = os.path.join(self.folder.name, "runs.jsonl")
        records = [self.run_record(passed_run_events(), name="g.jsonl", index=0),
                   self.run_record([], name="k.jsonl", index=1, exit_status=137)]
        with open(runs_path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
        out = os.path.join(self.folder.name, "report.json")
        svg = os.path.join(self.folder.name, "plot.svg")
        args = SimpleNamespace(runs=runs_path, json_out=out, svg_out=svg, command="test", binary="b", version="v",
                               repo_commit="c", started="s", load_start="1", load_end="1", max_runs="2", cpus="2",
                               series_suffix="", builder="", remote_form="fields", remote_store_check="")
        with redirect_stdout(io.StringIO()) as printed, redirect_stderr(io.StringIO()):
            status = scaling_helper.summarise(args)
        self.assertEqual(status, 1)
        self.assertIn("FAILED: local N=2", printed.getvalue())
        with open(out, encoding="utf-8") as handle:
            report = json.load(handle)
        self.assertEqual(report["levels"][0]["passed"], 1)
        self.assertIn("no run-finished event", report["levels"][0]["failed"][0]["why"])
        with open(svg, encoding="utf-8") as handle:
            self.assertIn("<svg", handle.read())

    def testNearestRankPercentile(self):
        values = [float(v) for v in range(1, 21)]  # 1 … 20
        self.assertEqual(scaling_helper.percentile(values, 0.95), 19.0)
        self.assertEqual(scaling_helper.percentile([3.0, 1.0, 2.0], 0.95), 3.0)
        self.assertEqual(scaling_helper.percentile([7.0], 0.5), 7.0)


if __name__ == "__main__":
    unittest.main()
