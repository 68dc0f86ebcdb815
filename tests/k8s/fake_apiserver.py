#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server, for speakerd's tests: it serves /api/v1/nodes with
the real list and watch protocol (resourceVersion, ADDED/MODIFIED/DELETED/BOOKMARK events,
410 Gone for a resourceVersion older than its history) over plain HTTP, and lets the test change
the Node objects and the server's health through /_control endpoints.

Usage: fake_apiserver.py ADDRESS PORT
Control:
  PUT    /_control/nodes/NAME   body: a Node object (JSON)      -> ADDED or MODIFIED
  DELETE /_control/nodes/NAME                                  -> DELETED
  POST   /_control/compact     forget history and end watches: clients relist (410 Gone)
  POST   /_control/down        refuse every API request (503) and end watches
  POST   /_control/up          serve again
  GET    /_control/events      the Events recorded so far (events.k8s.io/v1), oldest first

Events: POST /apis/events.k8s.io/v1/namespaces/NS/events creates one (refused with 422 when a
field the real API server requires is missing), PATCH .../events/NAME merges into one.
"""
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Condition()
nodes = {}
events = {}  # name -> Event, in creation order
history = []  # (resource_version, event_type, object)
state = {"rv": 1, "oldest": 1, "down": False, "epoch": 0}


def bump(kind, obj):
    state["rv"] += 1
    obj.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
    history.append((state["rv"], kind, json.loads(json.dumps(obj))))
    lock.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def status(self, code, reason, message):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def do_PUT(self):
        name = self.path.rsplit("/", 1)[-1]
        obj = self.body()
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "Node")
        obj.setdefault("metadata", {})["name"] = name
        # Like the real API server: a uid for the object's lifetime.
        obj["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "node/" + name))
        with lock:
            kind = "MODIFIED" if name in nodes else "ADDED"
            nodes[name] = obj
            bump(kind, obj)
        self.send_json(200, obj)

    def do_DELETE(self):
        name = self.path.rsplit("/", 1)[-1]
        with lock:
            obj = nodes.pop(name, None)
            if obj is not None:
                bump("DELETED", obj)
        self.send_json(200 if obj else 404, obj or {})

    def events_path(self):
        """The event name for .../namespaces/NS/events/NAME, '' for .../events, None otherwise."""
        parts = urlparse(self.path).path.strip("/").split("/")
        if len(parts) in (6, 7) and parts[:4] == ["apis", "events.k8s.io", "v1", "namespaces"] \
                and parts[5] == "events":
            return parts[6] if len(parts) == 7 else ""
        return None

    def do_PATCH(self):
        name = self.events_path()
        patch = self.body()
        with lock:
            event = events.get(name) if name else None
            if event is None:
                self.send_json(404, self.status(404, "NotFound", self.path))
                return
            for key, value in patch.items():
                event[key] = value
        self.send_json(200, event)

    def do_POST(self):
        if self.events_path() == "":
            event = self.body()
            required = ["eventTime", "reportingController", "reportingInstance", "action", "reason", "type"]
            missing = [k for k in required if not event.get(k)]
            if missing or not event.get("metadata", {}).get("name"):
                self.send_json(422, self.status(422, "Invalid", f"missing {missing or ['metadata.name']}"))
                return
            with lock:
                events[event["metadata"]["name"]] = event
            self.send_json(201, event)
            return
        with lock:
            if self.path == "/_control/compact":
                state["oldest"] = state["rv"] + 1
                history.clear()
            elif self.path == "/_control/down":
                state["down"] = True
            elif self.path == "/_control/up":
                state["down"] = False
            else:
                self.send_json(404, {})
                return
            state["epoch"] += 1
            lock.notify_all()
        self.send_json(200, {})

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/_control/events":
            with lock:
                self.send_json(200, list(events.values()))
            return
        if state["down"]:
            self.send_json(503, self.status(503, "ServiceUnavailable", "down for the test"))
            return
        if url.path != "/api/v1/nodes":
            self.send_json(404, self.status(404, "NotFound", url.path))
            return
        if query.get("watch", ["false"])[0] in ("true", "1"):
            self.watch(query)
            return
        with lock:
            items = [json.loads(json.dumps(n)) for n in nodes.values()]
            rv = state["rv"]
        self.send_json(200, {"kind": "NodeList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(rv)}, "items": items})

    def chunk(self, event):
        data = (json.dumps(event) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, query):
        since = int(query.get("resourceVersion", ["0"])[0] or 0)
        timeout = min(int(query.get("timeoutSeconds", ["60"])[0]), 60)
        bookmarks = query.get("allowWatchBookmarks", ["false"])[0] == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.time() + timeout
        try:
            with lock:
                epoch = state["epoch"]
                if since and since < state["oldest"] - 1:
                    self.chunk({"type": "ERROR", "object": self.status(410, "Expired", "too old resource version")})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                sent = since
                last_bookmark = time.time()
                while time.time() < deadline and state["epoch"] == epoch and not state["down"]:
                    for rv, kind, obj in history:
                        if rv > sent:
                            self.chunk({"type": kind, "object": obj})
                            sent = rv
                    if bookmarks and time.time() - last_bookmark > 1:
                        self.chunk({"type": "BOOKMARK", "object": {"kind": "Node", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(state["rv"])}}})
                        sent = max(sent, state["rv"])
                        last_bookmark = time.time()
                    lock.wait(0.5)
            sys.stderr.write(f"fake-apiserver: watch from {since} ends at {sent} (epoch {epoch}->{state['epoch']}, down {state['down']})\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError) as e:
            sys.stderr.write(f"fake-apiserver: watch from {since} dropped by the client: {e}\n")


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    print(f"fake-apiserver listening on {address}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
