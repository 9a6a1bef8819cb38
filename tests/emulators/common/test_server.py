"""The local stack's HTTP server (emulators/common/server.py, decision 57): connections kept alive, and many of
them open at once, as every execution environment's botocore pool keeps its own."""

from __future__ import annotations

import socket

import requests
from werkzeug.wrappers import Request, Response

from emulators.common.server import start


@Request.application
def _ok(request):
    return Response(str(request.environ.get("REMOTE_PORT")))  # the caller's end of the connection


def test_a_client_keeps_its_connection_from_one_request_to_the_next():
    server = start(_ok)
    try:
        with requests.Session() as http:
            first, second = (http.get(f"{server.url}/{n}", timeout=5) for n in range(2))
            assert first.headers.get("Connection") != "close" and first.text == second.text != "None"
    finally:
        server.stop()


def test_hundreds_of_idle_kept_alive_connections_do_not_lock_out_the_next_caller():
    server = start(_ok)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(300)]
    try:
        assert requests.get(f"{server.url}/x", timeout=5).ok
    finally:
        for sock in idle:
            sock.close()
        server.stop()
