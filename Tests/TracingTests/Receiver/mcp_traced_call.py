"""Calls `run_pipeline` on `sutradhar mcp` with the official Python MCP client, once with
`_meta.traceparent` and once without, and prints each run's summary trace_id.

Usage: mcp_traced_call.py SUTRADHAR WORKSPACE PIPELINE TRACEPARENT [NAME=VALUE ...]
The server's environment is this process's with the NAME=VALUE pairs (OTEL_*, a TRACEPARENT of its own).
Prints `with-meta: TRACE_ID` and `without-meta: TRACE_ID`; exits non-zero when a run does not pass.
"""
import os, sys
import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SUTRADHAR, WORKSPACE, PIPELINE, TRACEPARENT = sys.argv[1:5]
SERVER_ENVIRONMENT = dict(os.environ, **dict(pair.split("=", 1) for pair in sys.argv[5:]))


async def run(session, label, meta):
    result = await session.call_tool("run_pipeline", {"pipeline": PIPELINE}, read_timeout_seconds=300, meta=meta)
    summary = result.structured_content or {}
    if result.is_error or summary.get("status") != "passed":
        print(f"FAILED: {label}: {result}", flush=True)
        sys.exit(1)
    print(f"{label}: {summary.get('trace_id')}", flush=True)


async def main():
    parameters = StdioServerParameters(command=SUTRADHAR, args=["mcp", "--cache-dir", os.path.join(WORKSPACE, "mcp-cache")],
                                       cwd=WORKSPACE, env=SERVER_ENVIRONMENT)
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await run(session, "with-meta", {"traceparent": TRACEPARENT})
            await run(session, "without-meta", None)


anyio.run(main)
