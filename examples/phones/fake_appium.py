"""A stand-in for an Appium server: GET /status answers like Appium's, and
POST /post pretends to publish a video. Listens on 127.0.0.1:PORT."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/status":
            self._reply(200, {"value": {"ready": True, "message": "stand-in Appium"}})
        else:
            self._reply(404, {"error": "unknown"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        post = json.loads(self.rfile.read(length) or b"{}")
        self._reply(200, {"posted": post.get("video"), "port": self.server.server_port})

    def log_message(self, fmt, *args):
        sys.stderr.write("appium-stand-in: " + (fmt % args) + "\n")


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
