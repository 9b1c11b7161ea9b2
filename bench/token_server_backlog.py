#!/usr/bin/python3
"""Run tests/support/token_server.py with a listen backlog of 128 instead of
Python's ThreadingHTTPServer default of 5.

ferry asks for one token per repository, all at once (20 in the fleet): with a
backlog of 5 the kernel drops the surplus SYNs and those clients retry after the
1 s initial RTO, so every no-op re-sync measured 1.1-1.3 s instead of 0.25 s --
a harness artefact, not ferry's cost (real token services do not drop SYNs).

    token_server_backlog.py TOKEN_SERVER_PY [token_server.py arguments...]
"""
import http.server
import runpy
import sys

http.server.ThreadingHTTPServer.request_queue_size = 128
script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
