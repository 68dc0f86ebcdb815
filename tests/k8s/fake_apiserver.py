#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server, for speakerd's tests: it serves Nodes
(/api/v1/nodes) and the bgp.speakerd.io custom resources (/apis/bgp.speakerd.io/v1alpha1/PLURAL)
with the real list and watch protocol (resourceVersion, ADDED/MODIFIED/DELETED/BOOKMARK events,
410 Gone for a resourceVersion older than its history) over plain HTTP, Secrets by name
(/api/v1/namespaces/NS/secrets/NAME), the BGPNodeStatus writes speakerd makes (create, merge
patch of the object and of its status subresource), and lets the test change the objects and
the server's health through /_control endpoints.

Usage: fake_apiserver.py ADDRESS PORT
Control:
  PUT    /_control/nodes/NAME   body: a Node object (JSON)      -> ADDED or MODIFIED
  DELETE /_control/nodes/NAME                                  -> DELETED
  PUT    /_control/PLURAL/NAME  body: a custom resource (bgpclusterconfigs, bgpadvertisements),
                                a Service (services) or an EndpointSlice (endpointslices), whose
                                metadata.namespace the body gives (listed in every namespace)
  DELETE /_control/PLURAL/NAME
  PUT    /_control/secrets/NS/NAME   body: a Secret
  DELETE /_control/secrets/NS/NAME
  GET    /_control/writes       {"NAME": number of status writes} for BGPNodeStatus objects
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
GROUP = "bgp.speakerd.io/v1alpha1"
# plural -> (kind, apiVersion)
KINDS = {
    "nodes": ("Node", "v1"),
    "bgpclusterconfigs": ("BGPClusterConfig", GROUP),
    "bgpadvertisements": ("BGPAdvertisement", GROUP),
    "bgpnodestatuses": ("BGPNodeStatus", GROUP),
    "services": ("Service", "v1"),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
}
stores = {plural: {} for plural in KINDS}
nodes = stores["nodes"]
secrets = {}  # (namespace, name) -> Secret
writes = {}  # BGPNodeStatus name -> number of writes (create and patches)
events = {}  # name -> Event, in creation order
history = []  # (resource_version, plural, event_type, object)
state = {"rv": 1, "oldest": 1, "down": False, "epoch": 0}


def bump(plural, kind, obj):
    state["rv"] += 1
    obj.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
    history.append((state["rv"], plural, kind, json.loads(json.dumps(obj))))
    lock.notify_all()


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def resource_path(path):
    """(plural, name, subresource) of a list/watch/object path, or None."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"] and len(parts) in (3, 4) and parts[2] in ("nodes", "services"):
        return parts[2], (parts[3] if len(parts) == 4 else None), None
    if parts == ["apis", "discovery.k8s.io", "v1", "endpointslices"]:
        return "endpointslices", None, None
    if parts[:3] == ["apis", "bgp.speakerd.io", "v1alpha1"] and 4 <= len(parts) <= 6 \
            and parts[3] in KINDS:
        return parts[3], (parts[4] if len(parts) >= 5 else None), (parts[5] if len(parts) == 6 else None)
    return None


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

    def control_target(self):
        """("secrets", (ns, name)) or (plural, name) of a /_control/... object path."""
        parts = urlparse(self.path).path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["_control", "secrets"]:
            return "secrets", (parts[2], parts[3])
        if len(parts) == 3 and parts[0] == "_control" and parts[1] in KINDS:
            return parts[1], parts[2]
        return None, None

    def do_PUT(self):
        plural, name = self.control_target()
        if plural is None:
            self.send_json(404, self.status(404, "NotFound", self.path))
            return
        obj = self.body()
        if plural == "secrets":
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "Secret")
            obj.setdefault("metadata", {}).update({"namespace": name[0], "name": name[1]})
            with lock:
                secrets[name] = obj
            self.send_json(200, obj)
            return
        kind_name, api_version = KINDS[plural]
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind_name)
        obj.setdefault("metadata", {})["name"] = name
        # Like the real API server: a uid for the object's lifetime.
        obj["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, plural + "/" + name))
        with lock:
            store = stores[plural]
            kind = "MODIFIED" if name in store else "ADDED"
            store[name] = obj
            bump(plural, kind, obj)
        self.send_json(200, obj)

    def do_DELETE(self):
        plural, name = self.control_target()
        with lock:
            if plural == "secrets":
                obj = secrets.pop(name, None)
            elif plural is not None:
                obj = stores[plural].pop(name, None)
                if obj is not None:
                    bump(plural, "DELETED", obj)
            else:
                obj = None
        self.send_json(200 if obj else 404, obj or {})

    def events_path(self):
        """The event name for .../namespaces/NS/events/NAME, '' for .../events, None otherwise."""
        parts = urlparse(self.path).path.strip("/").split("/")
        if len(parts) in (6, 7) and parts[:4] == ["apis", "events.k8s.io", "v1", "namespaces"] \
                and parts[5] == "events":
            return parts[6] if len(parts) == 7 else ""
        return None

    def do_PATCH(self):
        target = resource_path(urlparse(self.path).path)
        if target and target[0] == "bgpnodestatuses" and target[1]:
            self.patch_status_object(target[1], self.body())
            return
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

    def patch_status_object(self, name, patch):
        if state["down"]:
            self.send_json(503, self.status(503, "ServiceUnavailable", "down for the test"))
            return
        with lock:
            obj = stores["bgpnodestatuses"].get(name)
            if obj is None:
                self.send_json(404, self.status(404, "NotFound", f"bgpnodestatuses {name}"))
                return
            obj = merge_patch(obj, patch)
            stores["bgpnodestatuses"][name] = obj
            writes[name] = writes.get(name, 0) + 1
            bump("bgpnodestatuses", "MODIFIED", obj)
        self.send_json(200, obj)

    def do_POST(self):
        target = resource_path(urlparse(self.path).path)
        if target == ("bgpnodestatuses", None, None):
            if state["down"]:
                self.send_json(503, self.status(503, "ServiceUnavailable", "down for the test"))
                return
            obj = self.body()
            name = obj.get("metadata", {}).get("name")
            with lock:
                if not name or name in stores["bgpnodestatuses"]:
                    self.send_json(409, self.status(409, "AlreadyExists", f"bgpnodestatuses {name}"))
                    return
                obj["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "bgpnodestatuses/" + name))
                stores["bgpnodestatuses"][name] = obj
                writes[name] = writes.get(name, 0) + 1
                bump("bgpnodestatuses", "ADDED", obj)
            self.send_json(201, obj)
            return
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
        if url.path == "/_control/writes":
            with lock:
                self.send_json(200, dict(writes))
            return
        if url.path.startswith("/_control/bgpnodestatuses/"):
            with lock:
                obj = stores["bgpnodestatuses"].get(url.path.rsplit("/", 1)[-1])
            self.send_json(200 if obj else 404, obj or {})
            return
        if state["down"]:
            self.send_json(503, self.status(503, "ServiceUnavailable", "down for the test"))
            return
        parts = url.path.strip("/").split("/")
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "secrets":
            with lock:
                secret = secrets.get((parts[3], parts[5]))
            if secret is None:
                self.send_json(404, self.status(404, "NotFound", f'secrets "{parts[5]}" not found'))
            else:
                self.send_json(200, secret)
            return
        target = resource_path(url.path)
        if target is None:
            self.send_json(404, self.status(404, "NotFound", url.path))
            return
        plural, name, _ = target
        if name is not None:
            with lock:
                obj = stores[plural].get(name)
            if obj is None:
                self.send_json(404, self.status(404, "NotFound", f"{plural} {name}"))
            else:
                self.send_json(200, obj)
            return
        if query.get("watch", ["false"])[0] in ("true", "1"):
            self.watch(query, plural)
            return
        kind, api_version = KINDS[plural]
        with lock:
            items = [json.loads(json.dumps(n)) for n in stores[plural].values()]
            rv = state["rv"]
        self.send_json(200, {"kind": kind + "List", "apiVersion": api_version,
                             "metadata": {"resourceVersion": str(rv)}, "items": items})

    def chunk(self, event):
        data = (json.dumps(event) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, query, plural):
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
                    for rv, of, kind, obj in history:
                        if rv > sent and of == plural:
                            self.chunk({"type": kind, "object": obj})
                        sent = max(sent, rv)
                    if bookmarks and time.time() - last_bookmark > 1:
                        kind_name, api_version = KINDS[plural]
                        self.chunk({"type": "BOOKMARK", "object": {"kind": kind_name, "apiVersion": api_version,
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
