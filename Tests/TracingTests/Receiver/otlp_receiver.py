"""A real OTLP/HTTP (protobuf) peer on loopback for the trace tests.

Usage: otlp_receiver.py PORT_FILE SPANS_FILE [--silent]
Listens on 127.0.0.1 (a free port, written to PORT_FILE), decodes every POST of an
ExportTraceServiceRequest with opentelemetry-proto, and appends one JSON line per span to
SPANS_FILE. With --silent it accepts connections and never answers (a collector that hangs).
"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

port_file, spans_file = sys.argv[1], sys.argv[2]
silent = "--silent" in sys.argv[3:]

def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("string_value", "bool_value", "int_value", "double_value") else str(v)

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if silent:
            time.sleep(3600)
        request = ExportTraceServiceRequest.FromString(body)
        with open(spans_file, "a") as out:
            for resource_spans in request.resource_spans:
                resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.write(json.dumps({
                            "path": self.path, "resource": resource, "name": span.name, "kind": span.kind,
                            "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(), "status": span.status.code,
                            "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano,
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                            "events": [{"name": e.name, "attributes": {a.key: value(a.value) for a in e.attributes}} for e in span.events],
                        }) + "\n")
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(port_file + ".tmp", port_file)
server.serve_forever()
