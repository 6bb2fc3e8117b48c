"""Drives `sutradhar mcp` with the official Python MCP client (the `mcp` package from PyPI).

Usage: python mcp_client_check.py SUTRADHAR WORKSPACE CACHE_DIR DOCKER_HOST

WORKSPACE holds pipelines/{quick,failing,sleeper}.yaml (container stages on a busybox image)
and an `allowed/` folder. Prints one `ok: CHECK` line per passed check, and at the end
`cancelled-run: ID` (the Swift test then asks the daemon for that run's containers). Exits
non-zero at the first failed check, saying what was expected and what came.
"""

import json
import os
import subprocess
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SUTRADHAR, WORKSPACE, CACHE, DOCKER_HOST = sys.argv[1:5]
# Generous bounds for a loaded 2-core machine: they only stop a hung test, they time nothing.
CALL_TIMEOUT = 120


def check(condition, name, detail=""):
    if not condition:
        print(f"FAILED: {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok: {name}", flush=True)


def server_parameters():
    return StdioServerParameters(
        command=SUTRADHAR,
        args=["mcp", "--cache-dir", CACHE, "--docker-host", DOCKER_HOST,
              "--allow-source", os.path.join(WORKSPACE, "allowed")],
        cwd=WORKSPACE,
        env={"DOCKER_HOST": DOCKER_HOST},
    )


def text(result):
    return "\n".join(part.text for part in result.content if getattr(part, "text", None) is not None)


async def expect_tool_error(session, name, arguments, says, label):
    result = await session.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT)
    check(result.is_error and says in text(result), label, f"isError={result.is_error} text={text(result)!r}")


async def main():
    async with stdio_client(server_parameters()) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()

            tools = await session.list_tools()
            names = sorted(tool.name for tool in tools.tools)
            check(names == sorted(["list_pipelines", "validate_pipeline", "run_pipeline", "list_runs", "get_run",
                                   "get_stage_log", "doctor", "cache_usage"]), "lists the tools", names)
            by_name = {tool.name: tool for tool in tools.tools}
            check(by_name["get_run"].annotations.read_only_hint is True and by_name["run_pipeline"].annotations.read_only_hint is False
                  and all(tool.output_schema for tool in tools.tools), "read-only annotations and output schemas")

            listed = await session.call_tool("list_pipelines", {})
            pipelines = {p["name"]: p for p in listed.structured_content["pipelines"]}
            check(sorted(pipelines) == ["failing", "quick", "sleeper"]
                  and [s["name"] for s in pipelines["quick"]["stages"]] == ["work"], "list_pipelines", pipelines)

            broken = "version: 1\nname: broken\nsource: { path: . }\nstages:\n  work:\n    needs: [nowhere]\n    container: { image: x, command: [true] }\n"
            validated = await session.call_tool("validate_pipeline", {"definition": broken})
            problems = validated.structured_content["problems"]
            check(not validated.structured_content["valid"] and any(p["line"] == 6 and "nowhere" in p["message"] for p in problems),
                  "validates a broken definition with line and column", problems)

            # A run with a progress callback: at least one notification per stage (checkout, work).
            notes = []

            async def on_progress(progress, total, message):
                notes.append((progress, total, message))

            result = await session.call_tool("run_pipeline", {"pipeline": "quick"}, read_timeout_seconds=CALL_TIMEOUT,
                                             progress_callback=on_progress)
            summary = result.structured_content
            check(not result.is_error and summary["event"] == "run-finished" and summary["status"] == "passed",
                  "run_pipeline passes with the run-finished summary", text(result))
            for stage in ("checkout", "work"):
                check(any(message.startswith(stage + " ") for _, _, message in notes), f"progress for stage {stage}", notes)
            check(any(total == 2 and progress == 2 and "passed" in message for progress, total, message in notes),
                  "progress counts stages done of the total", notes)
            quick_run = summary["run"]

            # A failing stage: isError, its code in the text, then its log.
            failed = await session.call_tool("run_pipeline", {"pipeline": "failing"}, read_timeout_seconds=CALL_TIMEOUT)
            check(failed.is_error and failed.structured_content["status"] == "failed"
                  and "container-failed" in text(failed) and "boom on stderr" in text(failed),
                  "a failed run is a tool error with the stage's code and log tail", text(failed))
            log = await session.call_tool("get_stage_log", {"run": failed.structured_content["run"], "stage": "work"})
            check("line 1 of the failing stage" in log.structured_content["text"] and log.structured_content["complete"],
                  "reads the failing stage's log", log.structured_content)
            # A run ID is UTC seconds plus 4 hex digits: all but the last two is a unique prefix here.
            window = await session.call_tool("get_stage_log", {"run": failed.structured_content["run"][:-2], "stage": "work",
                                                               "offset": 5, "limit": 10})
            check(not window.is_error and len(window.structured_content["text"].encode()) <= 10
                  and window.structured_content["next_offset"] == 15, "reads a window of a log by prefix, offset and limit", text(window))

            # A long run: 8 concurrent get_run during it, then cancel it mid-stage.
            started = anyio.Event()
            run_id = {}

            async def on_sleeper_progress(progress, total, message):
                if message.startswith("run "):
                    run_id["id"] = message.split()[1]
                if message.startswith("work ") and "started" in message:
                    started.set()

            cancelled_run = None
            async with anyio.create_task_group() as group:
                async def long_run():
                    await session.call_tool("run_pipeline", {"pipeline": "sleeper"}, read_timeout_seconds=CALL_TIMEOUT,
                                            progress_callback=on_sleeper_progress)

                group.start_soon(long_run)
                with anyio.fail_after(CALL_TIMEOUT):
                    await started.wait()
                cancelled_run = run_id["id"]
                answers = [None] * 8

                async def get(index):
                    answers[index] = await session.call_tool("get_run", {"run": cancelled_run}, read_timeout_seconds=CALL_TIMEOUT)

                async with anyio.create_task_group() as readers:
                    for index in range(8):
                        readers.start_soon(get, index)
                check(all(not a.is_error and a.structured_content["run"] == cancelled_run and a.structured_content["status"] == "running"
                          for a in answers), "8 concurrent get_run during a run", [text(a) for a in answers])
                # Cancelling the call sends notifications/cancelled for its request.
                group.cancel_scope.cancel()

            # The run cleans up, then records itself as cancelled. Poll the history until it has
            # (bounded: a hung cleanup fails here, not by hanging the suite).
            status = None
            with anyio.fail_after(CALL_TIMEOUT):
                while status not in ("cancelled", "failed", "passed"):
                    got = await session.call_tool("get_run", {"run": cancelled_run})
                    status = got.structured_content["status"]
                    if status == "running":
                        await anyio.sleep(0.2)
            check(status == "cancelled", "cancelling the request cancels the run", status)

            # Bad input: each a tool error with a clear message; the server keeps serving.
            await expect_tool_error(session, "no_such_tool", {}, "unknown tool 'no_such_tool'", "unknown tool")
            await expect_tool_error(session, "run_pipeline", {}, "missing required argument 'pipeline'", "missing argument")
            await expect_tool_error(session, "list_runs", {"limit": "many"}, "'limit' must be an integer", "mistyped argument")
            await expect_tool_error(session, "get_run", {"run": quick_run, "verbose": True}, "unknown argument verbose", "unknown argument")
            await expect_tool_error(session, "run_pipeline", {"pipeline": "nowhere"}, "no pipeline 'nowhere'", "unknown pipeline")
            await expect_tool_error(session, "run_pipeline", {"pipeline": "quick", "source": "/etc"}, "not under an allowed folder",
                                    "source outside --allow-source")
            await expect_tool_error(session, "run_pipeline", {"pipeline": "quick", "source": "https://example.com/x.git"},
                                    "never accepted", "source URL refused")
            await expect_tool_error(session, "get_run", {"run": "ffffffffffff"}, "no run 'ffffffffffff'", "unknown run ID")
            again = await session.call_tool("get_run", {"run": quick_run})
            check(not again.is_error and again.structured_content["status"] == "passed", "still serving after bad input")

            runs = await session.call_tool("list_runs", {"limit": 2})
            check([r["run"] for r in runs.structured_content["runs"]][0] == cancelled_run and len(runs.structured_content["runs"]) == 2,
                  "list_runs newest first, limited", runs.structured_content)

    slow_reader()
    print(f"cancelled-run: {cancelled_run}", flush=True)
    terminated = sigterm_stops_runs()
    print(f"terminated-run: {terminated}", flush=True)


def slow_reader():
    """Many answers in flight while nobody reads stdout (pipe back-pressure, swift-sdk #263),
    then read in small pieces: every line must be one whole JSON-RPC frame."""
    process = subprocess.Popen([SUTRADHAR, "mcp", "--cache-dir", CACHE], cwd=WORKSPACE, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "slow", "version": "1"}}}
    requests = [init, {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    count = 120
    for index in range(1, count + 1):
        requests.append({"jsonrpc": "2.0", "id": index, "method": "tools/list" if index % 2 else "tools/call",
                         "params": {} if index % 2 else {"name": "list_pipelines", "arguments": {}}})
    process.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
    process.stdin.flush()
    # Let the answers pile up against the full pipe before reading any.
    time.sleep(1)
    seen = set()
    buffer = b""
    deadline = time.monotonic() + CALL_TIMEOUT
    while len(seen) < count + 1 and time.monotonic() < deadline:
        chunk = process.stdout.read1(509)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                frame = json.loads(line)
            except ValueError:
                check(False, "whole frames under back-pressure", f"corrupted frame: {line[:200]!r}")
            seen.add(frame.get("id"))
    process.stdin.close()
    process.wait(timeout=CALL_TIMEOUT)
    check(seen == set(range(count + 1)), "whole frames under back-pressure with a slow reader", f"{len(seen)} answers")


def sigterm_stops_runs():
    """SIGTERM during a run: the run is stopped as Ctrl-C stops it, then the server exits 130.
    Returns the run's ID (the Swift test asks the daemon for its containers)."""
    process = subprocess.Popen([SUTRADHAR, "mcp", "--cache-dir", CACHE, "--docker-host", DOCKER_HOST], cwd=WORKSPACE,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "term", "version": "1"}}}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "run_pipeline", "arguments": {"pipeline": "sleeper"}, "_meta": {"progressToken": "t"}}}
    process.stdin.write("".join(json.dumps(r) + "\n" for r in [init, {"jsonrpc": "2.0", "method": "notifications/initialized"}, call]).encode())
    process.stdin.flush()
    run = None
    # Read progress until the sleeping stage has started (the line read blocks; the Swift
    # test's time limit bounds a server that never gets there).
    for line in process.stdout:
        message = json.loads(line).get("params", {}).get("message", "")
        if message.startswith("run "):
            run = message.split()[1]
        if message.startswith("work ") and "started" in message:
            break
    process.terminate()
    status = process.wait(timeout=CALL_TIMEOUT)
    check(run is not None and status == 130, "SIGTERM stops the runs in flight, then exits 130", f"run={run} status={status}")
    return run


anyio.run(main)
