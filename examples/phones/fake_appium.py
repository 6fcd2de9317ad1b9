"""A stand-in for an Appium server with its fake driver (@appium/fake-driver),
for when Appium is not installed (install-appium.sh installs it). It answers
the W3C WebDriver endpoints post.sh uses, as Appium does:

  GET    /status                           {"value": {"ready": true, "build": {...}}}
  POST   /session                          needs platformName and
                                           appium:automationName "Fake" and
                                           appium:app, an app XML (app.xml)
  POST   /session/ID/element               by id, accessibility id,
                                           class name or tag name
  POST   /session/ID/element/EL/value      only a MockInputField
  GET    /session/ID/element/EL/text
  POST   /session/ID/element/EL/click      not an element with visible="false"
  GET    /session/ID/source
  DELETE /session/ID

Anything else gets Appium's 404 "unknown command". Listens on 127.0.0.1:PORT."""
import json
import re
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
VERSION = "stand-in"


class WebDriverError(Exception):
    def __init__(self, status, error, message):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class Session:
    def __init__(self, app_path, caps):
        with open(app_path, encoding="utf-8") as f:
            self.source = f.read()
        self.root = ET.fromstring(self.source.encode())
        self.caps = caps
        self.elements = {}   # element id -> [node, its value, clicks]

    def find(self, using, value):
        for node in self.root.iter():
            if using in ("id", "accessibility id") and node.get("id") == value:
                break
            if using in ("class name", "tag name") and node.tag == value:
                break
        else:
            raise WebDriverError(404, "no such element",
                                 "An element could not be located on the page using the given search parameters.")
        for eid, el in self.elements.items():
            if el[0] is node:
                return eid
        eid = str(len(self.elements) + 1)
        self.elements[eid] = [node, "", 0]
        return eid

    def element(self, eid):
        if eid not in self.elements:
            raise WebDriverError(404, "no such element", f"element {eid} is unknown")
        return self.elements[eid]


sessions = {}
lock = threading.Lock()


def create_session(body):
    caps = dict(body.get("capabilities", {}).get("alwaysMatch", {}))
    first = body.get("capabilities", {}).get("firstMatch") or [{}]
    caps.update(first[0])
    if caps.get("platformName") != "Fake" or caps.get("appium:automationName") != "Fake":
        raise WebDriverError(500, "session not created",
                             "Could not find a driver for automationName "
                             f"'{caps.get('appium:automationName', '')}' and platformName "
                             f"'{caps.get('platformName', '')}'")
    app = caps.get("appium:app")
    if not isinstance(app, str):
        raise WebDriverError(400, "invalid argument", "'app' can't be blank")
    try:
        session = Session(app, caps)
    except (OSError, ET.ParseError) as e:
        raise WebDriverError(500, "session not created", f"cannot load app {app}: {e}")
    sid = str(uuid.uuid4())
    with lock:
        sessions[sid] = session
    plain = {k.split(":", 1)[-1]: v for k, v in caps.items()}
    return {"sessionId": sid, "capabilities": plain}


def route(method, path, body):
    if method == "GET" and path == "/status":
        return {"ready": True, "message": "The server is ready to accept new connections",
                "build": {"version": VERSION}}
    if method == "POST" and path == "/session":
        return create_session(body)
    m = re.fullmatch(r"/session/([^/]+)(/.*)?", path)
    if not m:
        raise WebDriverError(404, "unknown command", f"{method} {path} is not a known command")
    sid, rest = m.group(1), m.group(2) or ""
    with lock:
        session = sessions.get(sid)
    if session is None:
        raise WebDriverError(404, "invalid session id",
                             "A session is either terminated or not started")
    if method == "DELETE" and rest == "":
        with lock:
            del sessions[sid]
        return None
    if method == "GET" and rest == "/source":
        return session.source
    if method == "POST" and rest == "/element":
        return {ELEMENT_KEY: session.find(body.get("using"), body.get("value"))}
    m = re.fullmatch(r"/element/([^/]+)/(value|text|click)", rest)
    if m:
        el = session.element(m.group(1))
        node, command = el[0], m.group(2)
        if method == "POST" and command == "value":
            if node.tag != "MockInputField":
                raise WebDriverError(400, "invalid element state",
                                     "An element command could not be completed because the element is in an invalid state")
            text = body.get("text", "".join(body.get("value", [])))
            el[1] = text
            return None
        if method == "GET" and command == "text":
            return el[1]
        if method == "POST" and command == "click":
            if node.get("visible") == "false":
                raise WebDriverError(400, "invalid element state",
                                     "An element command could not be completed because the element is in an invalid state")
            el[2] += 1
            return None
    raise WebDriverError(404, "unknown command", f"{method} {path} is not a known command")


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code, value):
        data = json.dumps({"value": value}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        body = {}
        length = int(self.headers.get("Content-Length", 0))
        if length:
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, {"error": "invalid argument", "message": "the body is not JSON",
                                  "stacktrace": ""})
                return
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            self._reply(200, route(method, path, body))
        except WebDriverError as e:
            self._reply(e.status, {"error": e.error, "message": e.message, "stacktrace": ""})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def log_message(self, fmt, *args):
        sys.stderr.write("appium-stand-in: " + (fmt % args) + "\n")


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print(f"Appium stand-in listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
