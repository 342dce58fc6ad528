"""A TLS server on loopback that breaks its reply on purpose (tests only), and a certificate for it."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), as (cert, key)."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class BreakingTlsServer:
    """Completes the TLS handshake, reads the whole request, then writes bytes that are not TLS onto the
    raw socket: the client's TLS layer fails while reading the reply. ``headers_first`` sends a valid
    status line and headers before the garbage, so the failure strikes while the body is read."""

    def __init__(self, cert: Path, key: Path, *, headers_first: bool):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.headers_first = headers_first
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            tls = None
            try:
                tls = self.context.wrap_socket(raw, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(4096)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += tls.recv(4096)
                self.requests += 1
                if self.headers_first:
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nabc")
                    time.sleep(0.05)
                os.write(tls.fileno(), b"this is not a TLS record at all" * 4)   # straight onto the socket
                time.sleep(0.1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                (tls or raw).close()

    def close(self):
        self.listener.close()
