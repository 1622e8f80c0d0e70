"""A local HTTP server for test_download.sh: serves ROOT/<file> at
/ok/<file> (with HTTP range requests, which Python's own server lacks), at
/cut/<file> (announces the whole length, sends the first half, hangs up: a cut
transfer), and 404 for anything else. It binds 127.0.0.1 on a free port,
writes the port to PORTFILE, and logs each request's path and Range header to
LOG.

usage: http_server.py ROOT PORTFILE LOG
"""
import http.server
import os
import re
import sys

ROOT, PORTFILE, LOG = sys.argv[1:4]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(LOG, "a") as log:
            log.write("%s %s\n" % (self.path, self.headers.get("Range", "-")))
        m = re.fullmatch(r"/(ok|cut)/([A-Za-z0-9._-]+)", self.path)
        path = m and os.path.join(ROOT, m.group(2))
        if not m or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        r = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if r:
            start = int(r.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if m.group(1) == "cut":
            body = body[:len(body) // 2]
        self.wfile.write(body)
        self.wfile.flush()
        if m.group(1) == "cut":
            self.close_connection = True

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
