#!/usr/bin/python3
"""Minimal Docker-registry token server (Docker Hub style) for integration tests.

Run with Debian's /usr/bin/python3 (needs python3-jwt and python3-cryptography).

At start it loads, or generates and writes, an RSA key and a self-signed
certificate in --cert-dir (key.pem, cert.pem).  Point the registry's
auth.token.rootcertbundle at cert.pem.

    GET /token?service=S&scope=repository:NAME:pull[,push][&scope=...]

  * no Authorization header            -> anonymous: only "pull" is granted
  * Basic with a known user/password   -> every requested action is granted
  * Basic with a wrong user/password   -> 401 (like Docker Hub)

    POST /token  (OAuth2 form: grant_type=password, username, password,
                  service, scope; also grant_type=refresh_token is refused)

The JWT is RS256 with header x5c=[base64 DER of the cert]: distribution 2.8
verifies that chain against rootcertbundle.  The header also carries kid (the
libtrust fingerprint of the key), which distribution only uses when there is
no x5c.  The reply is {"token", "access_token", "expires_in", "issued_at"}.

Each request is logged as one line in --log (never the password):
    <iso-time> GET /token service=S scope=... user=ferry|anonymous|BADAUTH granted=... status=200

Facts about distribution 2.8.2 (checked by hand against docker-registry):
  * x5c chains, a bare kid (libtrust fingerprint) and an embedded jwk are all
    accepted when the key is the rootcertbundle's;
  * "aud" must be a JSON string: an array makes the token "malformed";
  * exp and nbf get 60 s of leeway (hence --exp-skew).

Usage: token_server.py --cert-dir DIR [--port N | --port 0 --port-file FILE]
                       [--log FILE] [--expires-in N] [--exp-skew S]
                       [--issuer ISS] [--service SVC] [--user NAME:PASS ...]
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b32_libtrust_kid(public_key):
    """libtrust key ID: base32 of the first 240 bits of sha256(DER SPKI), 12 groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b[i:i + 4] for i in range(0, len(b), 4))


def load_or_create_keys(cert_dir, common_name):
    """Return (private_key, cert) from cert_dir, creating them if missing."""
    os.makedirs(cert_dir, exist_ok=True)
    key_path = os.path.join(cert_dir, "key.pem")
    cert_path = os.path.join(cert_dir, "cert.pem")
    if os.path.exists(key_path) and os.path.exists(cert_path):
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        return key, cert
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # Back-dated so small clock skews between processes don't matter.
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    # Write atomically: the registry (and lib.sh) wait for cert.pem to appear.
    for path, data in ((key_path, key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())),
                       (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return key, cert


def parse_scope(scope):
    """'repository:ns/app:pull,push' -> ('repository', 'ns/app', ['pull', 'push']).

    The name may contain ':' only for a registry host with a port, which never
    occurs in scopes, so split at the first and last colon.
    """
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last == first:
        return None
    typ, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:]
    return typ, name, [a for a in actions.split(",") if a]


class Server(ThreadingHTTPServer):
    # ferry asks for the tokens of all repositories at once; with Python's default
    # backlog of 5 the kernel drops the surplus SYNs and those clients wait out a
    # 1 s retransmit, which real token services never cause.
    request_queue_size = 128


class TokenServer:
    def __init__(self, args):
        self.args = args
        self.key, self.cert = load_or_create_keys(args.cert_dir, args.issuer)
        self.x5c = [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.kid = b32_libtrust_kid(self.key.public_key())
        self.users = dict(u.split(":", 1) for u in args.user)
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    def log(self, line):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(line + "\n")

    def authenticate(self, username, password):
        """None for anonymous, username if good, False if bad."""
        if username is None:
            return None
        if username in self.users and self.users[username] == password:
            return username
        return False

    def grant(self, user, scopes):
        access = []
        for s in scopes:
            parsed = parse_scope(s)
            if not parsed:
                continue
            typ, name, actions = parsed
            if typ != "repository":
                continue
            if user is None:
                # Anonymous: pull only, like public repositories on Docker Hub.
                actions = [a for a in actions if a == "pull"]
            else:
                actions = [a for a in actions if a in ("pull", "push", "delete", "*")]
            access.append({"type": typ, "name": name, "actions": actions})
        return access

    def issue(self, user, service, access):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        iat = int(now.timestamp())
        claims = {
            "iss": self.args.issuer,
            "sub": user or "",
            "aud": service,
            "exp": iat + self.args.expires_in + self.args.exp_skew,
            # nbf slightly in the past: distribution allows only small leeway.
            "nbf": iat - 10,
            "iat": iat,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, self.key, algorithm="RS256",
                           headers={"x5c": self.x5c, "kid": self.kid, "typ": "JWT"})
        if isinstance(token, bytes):  # PyJWT < 2
            token = token.decode()
        return {"token": token, "access_token": token, "expires_in": self.args.expires_in,
                "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


def make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ferry-test-token-server/1"

        def log_message(self, fmt, *a):  # quiet stderr; we have our own log
            pass

        def reply(self, status, obj, extra_headers=()):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra_headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def basic_credentials(self):
            h = self.headers.get("Authorization")
            if not h:
                return None, None
            kind, _, value = h.partition(" ")
            if kind.lower() != "basic":
                return "", ""  # unknown scheme: treated as bad credentials
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except Exception:
                return "", ""
            return user, password

        def handle_token(self, params, username, password):
            service = (params.get("service") or [""])[0]
            scopes = []
            for s in params.get("scope", []):
                # Some clients send several scopes space-separated in one parameter.
                scopes.extend(x for x in s.split(" ") if x)
            user = server.authenticate(username, password)
            who = "anonymous" if user is None else (user if user else "BADAUTH(%s)" % username)
            if user is False:
                server.log("%s %s /token service=%s scope=%s user=%s granted=- status=401" % (
                    datetime.datetime.now().isoformat(timespec="seconds"), self.command,
                    service, " ".join(scopes) or "-", who))
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "incorrect username or password"}]},
                           [("WWW-Authenticate", 'Basic realm="ferry-test-token"')])
                return
            if service != server.args.service:
                server.log("%s %s /token service=%s scope=%s user=%s granted=- status=400" % (
                    datetime.datetime.now().isoformat(timespec="seconds"), self.command,
                    service, " ".join(scopes) or "-", who))
                self.reply(400, {"errors": [{"code": "DENIED",
                                             "message": "unknown service %r" % service}]})
                return
            access = server.grant(user, scopes)
            granted = " ".join("%s:%s:%s" % (a["type"], a["name"], ",".join(a["actions"]))
                               for a in access) or "-"
            server.log("%s %s /token service=%s scope=%s user=%s granted=%s status=200" % (
                datetime.datetime.now().isoformat(timespec="seconds"), self.command,
                service, " ".join(scopes) or "-", who, granted))
            self.reply(200, server.issue(user, service, access))

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self.reply(200, {"ok": True})
                return
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            user, password = self.basic_credentials()
            self.handle_token(parse_qs(url.query), user, password)

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode()) if length else {}
            grant_type = (form.get("grant_type") or [""])[0]
            if grant_type != "password":
                self.reply(400, {"error": "unsupported_grant_type"})
                return
            user = (form.get("username") or [None])[0]
            password = (form.get("password") or [""])[0]
            self.handle_token(form, user, password)

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description="Docker registry token server for ferry tests.")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="listen port (0 = kernel picks)")
    p.add_argument("--port-file", help="write the bound port to this file once listening")
    p.add_argument("--cert-dir", required=True,
                   help="directory holding key.pem and cert.pem (created if missing)")
    p.add_argument("--log", help="append one line per token request to this file")
    p.add_argument("--expires-in", type=int, default=300, help="token lifetime in seconds")
    p.add_argument("--exp-skew", type=int, default=0, metavar="SECONDS",
                   help="added to the JWT exp claim only (not to expires_in). distribution "
                        "2.8 accepts tokens up to 60 s past exp, so -60 makes the registry "
                        "really reject a token --expires-in seconds after issue")
    p.add_argument("--issuer", default="ferry-test-issuer")
    p.add_argument("--service", default="ferry-test-registry")
    p.add_argument("--user", action="append", default=None, metavar="NAME:PASSWORD",
                   help="accepted credentials (repeatable; default ferry:s3cret)")
    args = p.parse_args(argv)
    if args.user is None:
        args.user = ["ferry:s3cret"]

    ts = TokenServer(args)
    httpd = Server((args.host, args.port), make_handler(ts))
    httpd.daemon_threads = True
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % httpd.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
