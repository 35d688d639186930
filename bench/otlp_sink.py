"""An OTLP/HTTP receiver that reads each export and answers 200, doing nothing else: what
BENCHMARKS.md's "OpenTelemetry export" rows send spans to, so that the figures are baton's cost
and not a backend's. Usage: python3 bench/otlp_sink.py PORT, then
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT baton bench ..."""

import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
