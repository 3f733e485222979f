"""Puts the mock behind TLS for one run: real nginx terminating https (HTTP/2 offered by
ALPN, HTTP/1.1 for clients that do not ask for it) and proxying to the mock over kept-alive
plain connections. The certificate is made at bench time by openssl: a throwaway CA, and a
server certificate for 127.0.0.1 signed by it; each contender is told to trust the CA
through its own option. nginx's CPU is the server's, not the contender's.

The access log records each request's protocol and connection, so the table can say what
every client actually negotiated.
"""
import os
import subprocess
import time
import urllib.request

from harness import gateway, server

NGINX = "/usr/sbin/nginx"

CONF = """daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format tls '$server_protocol $connection';
    access_log {dir}/access.log tls;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Bodies stay in memory and stream on: nginx's workers may not write in the run's
    # private directory, and a course summary's prompt is large.
    client_body_buffer_size 16m;
    client_max_body_size 64m;
    keepalive_requests 1000000;
    server_tokens off;
    upstream mock {{
        server {upstream};
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def unavailable():
    """None, or why no TLS front can run here."""
    if not os.path.exists(NGINX):
        return "nginx is not installed (the gateway's packages: nginx)"
    if subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode:
        return "openssl is not installed"
    return None


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr[-300:]))


def make_certificates(directory):
    """ca.pem (the CA to trust), server.pem and server.key (for 127.0.0.1), once per
    directory. EC P-256 keys, as most public https servers use today."""
    if os.path.exists(os.path.join(directory, "server.pem")):
        return os.path.join(directory, "ca.pem")
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=coursegen bench CA", cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=directory)
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
             cwd=directory)
    return os.path.join(directory, "ca.pem")


def ca_file(work):
    return os.path.join(work, "tls", "ca.pem")


class TlsFront(server.Server):
    """nginx on a free loopback port, https in front of `inner` (a started Mock); stats
    and resets go to the mock itself."""

    def __init__(self, work, log_path, inner):
        self.inner = inner
        certs = os.path.join(work, "tls")
        make_certificates(certs)
        self.port = gateway.free_port()
        self.dir = os.path.join(work, "tls-%d" % self.port)
        os.makedirs(self.dir)
        for name in ("server.pem", "server.key"):
            os.symlink(os.path.join(certs, name), os.path.join(self.dir, name))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(CONF.format(dir=self.dir, port=self.port,
                                upstream=inner.url.split("://", 1)[1].rstrip("/")))
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf")],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.url = "https://127.0.0.1:%d" % self.port
        self._wait(ca_file(work))

    def _wait(self, ca):
        import ssl
        ctx = ssl.create_default_context(cafile=ca)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.url + "/stats", timeout=1, context=ctx).read()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("the TLS front did not start: " + self.log_tail())

    def protocols(self):
        """{protocol: requests} and the number of connections, from the access log (read
        after the run; the readiness probe is one HTTP/1.1 request on its own connection)."""
        counts, conns = {}, set()
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        counts[parts[0]] = counts.get(parts[0], 0) + 1
                        conns.add(parts[1])
        except OSError:
            pass
        return counts, len(conns)

    def reset_stats(self):
        self.inner.reset_stats()
        try:
            open(os.path.join(self.dir, "access.log"), "w").close()
        except OSError:
            pass

    def stats(self):
        return self.inner.stats()

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()[-300:]
        except OSError:
            return ""

    def close(self):
        server.stop(self.proc)
        self.inner.close()
