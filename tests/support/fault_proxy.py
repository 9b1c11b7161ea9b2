#!/usr/bin/python3
"""Fault-injecting HTTP/1.1 reverse proxy for ferry's resilience tests.

Run with Debian's /usr/bin/python3 (standard library only).

    fault_proxy.py --upstream http://127.0.0.1:5000 --port 0 --port-file F
                   [--rules RULES.json] [--log REQUESTS.jsonl]
                   [--idle-timeout 30] [--name main]
    fault_proxy.py --summary REQUESTS.jsonl [--since N]

It listens on 127.0.0.1 only (--port 0: the kernel picks the port, which is
written to --port-file once the socket is bound) and forwards every request
to --upstream, streaming bodies both ways in 64 KiB chunks (a blob is never
held in memory).  The client's Host header is passed through, so absolute
URLs the upstream builds point back at the proxy.  Towards the client it
keeps connections alive when the response length is known (Content-Length,
or re-chunked); a fault that cuts a body closes the connection.  Each
request uses its own upstream connection.  Idle or stalled sockets (both
sides) time out after --idle-timeout seconds.

Faults come from the JSON rules file (--rules), re-read on EVERY request so a
test can change faults between (or during) runs: write it atomically (write a
temp file, then mv).  A missing file means "no faults"; a malformed one makes
every request fail with 500 (loudly, so a typo never passes for "no fault").
Format: {"rules": [RULE, ...]} or a bare list.  For each request the first
rule that matches and still has budget applies; its budget shrinks by one.
Budgets (and "after" counters) start afresh whenever the file changes
(content or mtime).

RULE keys -- matching:
    method        "GET" or ["GET", "HEAD"]           (default: any)
    path          Python regex, re.search'd on path+query  (default: any)
    has_range     true/false: request has / lacks a Range header
    has_auth      true/false: request has / lacks an Authorization header
    after         let the first N matching requests through untouched (0)
    times         how many matching requests the rule applies to; -1 means
                  always (default -1)
    comment       ignored
RULE keys -- faults (combinable; applied in this order):
    latency_ms          sleep this long before answering
    status              answer with this status WITHOUT contacting upstream;
                        with:
        retry_after     Retry-After header value (e.g. 1 or an HTTP date)
        body            body text (default: a registry-style JSON error, or
                        nothing for 2xx/3xx)
        body_pad_to     pad the body with spaces (valid JSON whitespace) up
                        to N bytes, streamed (e.g. a 5 MiB "manifest")
        content_type    Content-Type (default application/json)
        headers         {"Name": "value", ...} extra response headers
    redirect_to         answer 307 with Location = this base URL + the
                        original path and query (e.g. another instance of
                        this proxy acting as a CDN); upstream not contacted
    drop_after_bytes    forward headers + N body bytes, then close the socket
                        (only counted as applied when the body is longer)
        reset           true: close with a TCP RST instead of a FIN
    flip_byte_at        XOR 0xff into the body byte at offset N (of this
                        response's body; not applied if the body is shorter)
    rate_bytes_per_sec  throttle this response's body to N bytes/s

Log (--log): one JSON object per request, appended and flushed when the
response is over:
    t, t_end      epoch seconds at request line / end of response
    proxy         --name
    conn          connection number (keep-alive requests share it)
    method, path  request line (path includes the query)
    status        status sent to the client (0: nothing sent)
    upstream      upstream's status (null when not contacted)
    fault         faults applied, "+"-joined (null when none)
    rule          index of the rule that matched (null when none)
    bytes         body bytes written to the client socket
    length        body length announced (Content-Length), null if unknown
    auth          whether the request carried an Authorization header
    range         the request's Range header (null when absent)
    error         what went wrong on the proxy's side (null when nothing)

--summary LOG [--since N] prints one JSON object summarising the log (lines
after the first N): requests, faults {kind: count}, statuses, blob GET
figures (count, body bytes, with Authorization, with Range, their Range
values; per digest: GETs, bytes, Range values, statuses, faults), manifest GETs, requests with Authorization, and
retry_gaps_s: for each request answered by a "status" fault >= 400, the seconds
until the next request for the same method+path (how long the client
waited before retrying; null if it never came back).
"""

import argparse
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHUNK = 64 * 1024
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding",
    "upgrade",
}
MATCH_KEYS = {"method", "path", "has_range", "has_auth", "after", "times", "comment"}
FAULT_KEYS = {
    "latency_ms", "status", "retry_after", "body", "body_pad_to", "content_type",
    "headers", "redirect_to", "drop_after_bytes", "reset", "flip_byte_at",
    "rate_bytes_per_sec",
}
BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})(\?.*)?$")
MANIFEST_RE = re.compile(r"^/v2/(.+)/manifests/[^/?]+(\?.*)?$")


class RulesError(Exception):
    pass


class Rules:
    """The rules file, re-read per request, with per-rule budgets."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.key = None
        self.rules = []
        self.seen = []  # matching requests per rule
        self.used = []  # requests the rule was applied to

    def _load(self):
        if not self.path:
            return
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as f:
                text = f.read()
        except FileNotFoundError:
            text, st = b"", None
        key = (st.st_mtime_ns if st else None, text)
        if key == self.key:
            return
        rules = []
        if text.strip():
            try:
                doc = json.loads(text)
            except ValueError as e:
                raise RulesError("rules file %s: %s" % (self.path, e))
            rules = doc.get("rules") if isinstance(doc, dict) else doc
            if not isinstance(rules, list):
                raise RulesError("rules file %s: want a list or {\"rules\": [...]}" % self.path)
            for i, r in enumerate(rules):
                if not isinstance(r, dict):
                    raise RulesError("rule %d is not an object" % i)
                unknown = set(r) - MATCH_KEYS - FAULT_KEYS
                if unknown:
                    raise RulesError("rule %d: unknown keys %s" % (i, sorted(unknown)))
                if "path" in r:
                    try:
                        r["_re"] = re.compile(r["path"])
                    except re.error as e:
                        raise RulesError("rule %d: bad path regex: %s" % (i, e))
        self.key = key
        self.rules = rules
        self.seen = [0] * len(rules)
        self.used = [0] * len(rules)

    def pick(self, method, path, headers):
        """The (index, rule) applying to this request, or (None, None)."""
        with self.lock:
            self._load()
            for i, r in enumerate(self.rules):
                m = r.get("method")
                if m is not None:
                    ms = [m] if isinstance(m, str) else m
                    if method.upper() not in [x.upper() for x in ms]:
                        continue
                if "_re" in r and not r["_re"].search(path):
                    continue
                if "has_range" in r and bool(r["has_range"]) != ("Range" in headers):
                    continue
                if "has_auth" in r and bool(r["has_auth"]) != ("Authorization" in headers):
                    continue
                times = int(r.get("times", -1))
                if times >= 0 and self.used[i] >= times:
                    continue
                self.seen[i] += 1
                if self.seen[i] <= int(r.get("after", 0)):
                    continue
                self.used[i] += 1
                return i, r
            return None, None


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, entry):
        if not self.f:
            return
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


def default_error_body(status):
    code = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED", 403: "DENIED",
            404: "NOT_FOUND"}.get(status, "UNAVAILABLE")
    return json.dumps({"errors": [{"code": code, "message": "injected by fault_proxy (%d)" % status,
                                   "detail": None}]})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_proxy/1"
    sys_version = ""
    conn_counter = 0
    conn_lock = threading.Lock()

    def setup(self):
        self.timeout = self.server.opts.idle_timeout
        super().setup()
        with Handler.conn_lock:
            Handler.conn_counter += 1
            self.conn_id = Handler.conn_counter

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    # Every method goes through one path.
    def do_GET(self):
        self.proxy()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # ---- helpers -------------------------------------------------------------
    def _start(self, status, headers):
        """Status line + headers.  headers: list of (name, value)."""
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.entry["status"] = status

    def _write(self, data):
        self.wfile.write(data)
        self.entry["bytes"] += len(data)

    def _cut(self, reset):
        """Close the client socket now (FIN, or RST with reset)."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _read_request_body(self):
        """Yield the request body in chunks (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    data = self.rfile.read(min(CHUNK, left))
                    if not data:
                        raise ConnectionError("client body cut")
                    left -= len(data)
                    yield data
                self.rfile.readline(1024)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    raise ConnectionError("client body cut")
                left -= len(data)
                yield data

    def _discard_request_body(self):
        for _ in self._read_request_body():
            pass

    def _send_body(self, chunks, rule, length, chunked):
        """Stream chunks to the client through the body faults of `rule`."""
        drop = rule.get("drop_after_bytes") if rule else None
        flip = rule.get("flip_byte_at") if rule else None
        rate = rule.get("rate_bytes_per_sec") if rule else None
        if rate:
            self.faults.append("rate_bytes_per_sec")
        offset = 0
        t0 = time.monotonic()
        step = CHUNK if not rate else max(1024, min(CHUNK, int(rate) // 20))
        for data in chunks:
            while data:
                piece, data = data[:step], data[step:]
                if flip is not None and offset <= flip < offset + len(piece):
                    b = bytearray(piece)
                    b[flip - offset] ^= 0xFF
                    piece = bytes(b)
                    self.faults.append("flip_byte_at")
                cut = drop is not None and offset + len(piece) > drop
                if cut:
                    piece = piece[: max(0, drop - offset)]
                if piece:
                    if chunked:
                        self.wfile.write(b"%x\r\n" % len(piece))
                    self._write(piece)  # counts body bytes only
                    if chunked:
                        self.wfile.write(b"\r\n")
                offset += len(piece)
                if cut:
                    self.faults.append("drop_after_bytes")
                    self._cut(bool(rule.get("reset")))
                    return False
                if rate:
                    ahead = offset / float(rate) - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        if length is not None and offset != length:
            self.entry["error"] = "upstream body ended at %d of %d bytes" % (offset, length)
            self._cut(False)
            return False
        return True

    # ---- the one request path -----------------------------------------------
    def proxy(self):
        opts = self.server.opts
        self.faults = []
        self.entry = {
            "t": round(time.time(), 3), "proxy": opts.name, "conn": self.conn_id,
            "method": self.command, "path": self.path, "status": 0, "upstream": None,
            "fault": None, "rule": None, "bytes": 0, "length": None,
            "auth": "Authorization" in self.headers, "range": self.headers.get("Range"),
            "error": None,
        }
        try:
            self._proxy(opts)
        except (ConnectionError, TimeoutError, socket.timeout, OSError) as e:
            self.entry["error"] = "%s: %s" % (type(e).__name__, e)
            self.close_connection = True
        finally:
            self.entry["fault"] = "+".join(dict.fromkeys(self.faults)) or None
            self.entry["t_end"] = round(time.time(), 3)
            self.server.log.write(self.entry)

    def _proxy(self, opts):
        if self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        try:
            idx, rule = self.server.rules.pick(self.command, self.path, self.headers)
        except RulesError as e:
            self.entry["error"] = str(e)
            sys.stderr.write("fault_proxy: %s\n" % e)
            self._discard_request_body()
            body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "fault_proxy: %s" % e}]}).encode()
            self._start(500, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            self._write(body)
            return
        self.entry["rule"] = idx
        rule = rule or {}

        if rule.get("latency_ms"):
            self.faults.append("latency_ms")
            time.sleep(float(rule["latency_ms"]) / 1000.0)

        if "status" in rule:
            self._answer_locally(rule)
            return
        if rule.get("redirect_to"):
            self._discard_request_body()
            self.faults.append("redirect_to")
            loc = rule["redirect_to"].rstrip("/") + self.path
            self._start(307, [("Location", loc), ("Content-Length", "0"),
                              ("Docker-Distribution-Api-Version", "registry/2.0")])
            self.entry["length"] = 0
            return

        # Forward.
        up = urlsplit(opts.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=opts.idle_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            has_body = "Content-Length" in self.headers or "chunked" in self.headers.get(
                "Transfer-Encoding", "").lower()
            if has_body:
                if "Content-Length" not in self.headers:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.putheader("Connection", "close")
                conn.endheaders()
                chunked_up = "Content-Length" not in self.headers
                for data in self._read_request_body():
                    conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked_up else data)
                if chunked_up:
                    conn.send(b"0\r\n\r\n")
            else:
                conn.putheader("Connection", "close")
                conn.endheaders()
            try:
                resp = conn.getresponse()
            except (ConnectionError, OSError, http.client.HTTPException) as e:
                self.entry["error"] = "upstream: %s: %s" % (type(e).__name__, e)
                body = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                               "message": "fault_proxy: upstream %s" % e}]}).encode()
                self._start(502, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
                self._write(body)
                return
            self.entry["upstream"] = resp.status
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            length = resp.getheader("Content-Length")
            length = int(length) if length is not None and resp.chunked is False else None
            no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
            chunked = False
            if no_body:
                pass
            elif length is not None:
                self.entry["length"] = length
            else:
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Transfer-Encoding", "chunked"))
                chunked = True
            self._start(resp.status, headers)
            if no_body:
                return

            def upstream_chunks():
                while True:
                    data = resp.read(CHUNK)
                    if not data:
                        return
                    yield data

            self._send_body(upstream_chunks(), rule, length, chunked)
        finally:
            conn.close()

    def _answer_locally(self, rule):
        self._discard_request_body()
        status = int(rule["status"])
        self.faults.append("status_%d" % status)
        if "body" in rule:
            body = rule["body"].encode() if isinstance(rule["body"], str) else json.dumps(rule["body"]).encode()
        elif status >= 400:
            body = default_error_body(status).encode()
        else:
            body = b""
        pad = max(0, int(rule.get("body_pad_to", 0)) - len(body))
        headers = [("Content-Type", rule.get("content_type", "application/json")),
                   ("Content-Length", str(len(body) + pad)),
                   ("Docker-Distribution-Api-Version", "registry/2.0")]
        if "retry_after" in rule:
            headers.append(("Retry-After", str(rule["retry_after"])))
        for k, v in (rule.get("headers") or {}).items():
            headers.append((k, str(v)))
        self.entry["length"] = len(body) + pad
        self._start(status, headers)
        if self.command == "HEAD":
            return

        def chunks():
            yield body
            left = pad
            while left > 0:
                n = min(CHUNK, left)
                left -= n
                yield b" " * n

        # Body faults (rate, drop, flip) apply to local answers too.
        self._send_body(chunks(), rule, len(body) + pad, False)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


# ---- --summary ------------------------------------------------------------------
def summarize(path, since):
    entries = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < since or not line.strip():
                continue
            entries.append(json.loads(line))
    entries.sort(key=lambda e: e["t"])
    out = {
        "requests": len(entries), "statuses": {}, "faults": {}, "faulted_requests": 0,
        "auth_requests": 0, "manifest_gets": 0, "manifest_gets_with_auth": 0,
        "blob_gets": 0, "blob_get_bytes": 0, "blob_gets_with_auth": 0,
        "blob_gets_with_range": 0, "blob_ranges": [], "blobs": {}, "retry_gaps_s": [],
        "errors": 0,
    }
    for n, e in enumerate(entries):
        out["statuses"][str(e["status"])] = out["statuses"].get(str(e["status"]), 0) + 1
        if e.get("error"):
            out["errors"] += 1
        if e["auth"]:
            out["auth_requests"] += 1
        if e.get("fault"):
            out["faulted_requests"] += 1
            for f in e["fault"].split("+"):
                out["faults"][f] = out["faults"].get(f, 0) + 1
            if "status_" in e["fault"] and e["status"] >= 400:
                gap = None
                for later in entries[n + 1:]:
                    if later["method"] == e["method"] and later["path"] == e["path"]:
                        gap = round(later["t"] - e["t_end"], 3)
                        break
                out["retry_gaps_s"].append(gap)
        if e["method"] == "GET" and MANIFEST_RE.match(e["path"]):
            out["manifest_gets"] += 1
            out["manifest_gets_with_auth"] += int(bool(e["auth"]))
        m = BLOB_RE.match(e["path"])
        if e["method"] == "GET" and m:
            out["blob_gets"] += 1
            out["blob_get_bytes"] += e["bytes"]
            out["blob_gets_with_auth"] += int(bool(e["auth"]))
            b = out["blobs"].setdefault(m.group(2), {"gets": 0, "bytes": 0, "ranges": [], "statuses": [],
                                                     "faults": []})
            b["gets"] += 1
            if e.get("fault"):
                b["faults"].append(e["fault"])
            b["bytes"] += e["bytes"]
            b["statuses"].append(e["status"])
            if e.get("range"):
                out["blob_gets_with_range"] += 1
                out["blob_ranges"].append(e["range"])
                b["ranges"].append(e["range"])
    print(json.dumps(out, indent=1, sort_keys=True))


def main():
    ap = argparse.ArgumentParser(
        description="Fault-injecting HTTP/1.1 reverse proxy (see the module docstring for the rules format).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--upstream", help="upstream base URL, e.g. http://127.0.0.1:5000 (plain HTTP)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: kernel's choice, default)")
    ap.add_argument("--port-file", help="write the bound port here (atomically) once listening")
    ap.add_argument("--rules", help="JSON rules file, re-read on every request (missing: no faults)")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--idle-timeout", type=float, default=30.0,
                    help="seconds a socket (client or upstream) may stay silent (default 30)")
    ap.add_argument("--name", default="proxy", help="name recorded in each log line (default proxy)")
    ap.add_argument("--summary", metavar="LOG", help="summarise a request log as JSON and exit")
    ap.add_argument("--since", type=int, default=0, help="with --summary: skip the first N log lines")
    opts = ap.parse_args()
    if opts.summary:
        summarize(opts.summary, opts.since)
        return 0
    if not opts.upstream:
        ap.error("--upstream is required")
    up = urlsplit(opts.upstream)
    if up.scheme != "http" or not up.hostname:
        ap.error("--upstream must be http://HOST:PORT")
    server = Server(("127.0.0.1", opts.port), Handler)
    server.opts = opts
    server.rules = Rules(opts.rules)
    server.log = Log(opts.log)
    port = server.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, opts.port_file)
    sys.stderr.write("fault_proxy %s: 127.0.0.1:%d -> %s\n" % (opts.name, port, opts.upstream))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
