"""ctest file_server: examples/file_server as users run it.

Builds a tree in a temporary directory (a root to serve, and a file beside
it that must never be served), starts the server with --port 0 (and the
--workers given), reads its "listening on 127.0.0.1:PORT" line, and checks
contents, content types, Range (206, 416, several ranges), conditional
requests (304 by ETag and by date), HEAD, 405, directories, and that every
way out of the root (.., its encodings, absolute targets, symlinks out,
NUL) is answered 400, 403 or 404 without a byte of what lies outside.
A second server with --list and a missing --mime-types file checks the
listing and the built-in types. Each ends with SIGTERM (SIGINT with
--sigint) and must exit 0.
    python3 file_server.py PATH_TO_file_server [--workers N] [--sigint]
"""
import email.utils
import http.client
import os
import random
import re
import socket
import sys
import tempfile

from program_util import Programs, request, stop, stop_signal

exe = sys.argv[1]
args = sys.argv[2:]
sig = stop_signal(args)

SECRET = b"SECRET-OUTSIDE-THE-ROOT"


def make_tree(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(root, "site"))
    os.makedirs(os.path.join(root, "empty"))
    os.makedirs(os.path.join(root, "x:"))
    with open(os.path.join(tmp, "outside.txt"), "wb") as f:
        f.write(SECRET)
    files = {
        "hello.txt": b"hello, file\n",
        "page.html": b"<p>page</p>\n",
        "style.css": b"p { }\n",
        "pic.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
        "noext": b"what am I",
        "sub/deep.json": b"{}\n",
        "site/index.html": b"<h1>index</h1>\n",
        "ten.txt": b"0123456789",
        "empty.txt": b"",
        "a b&<c>.txt": b"odd name",
        "x:/y": b"not a scheme",
    }
    rng = random.Random(16)
    files["big.bin"] = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    os.symlink("ten.txt", os.path.join(root, "in_link"))
    os.symlink("../hello.txt", os.path.join(root, "sub", "back_link"))
    os.symlink("../outside.txt", os.path.join(root, "up_link"))
    os.symlink(os.path.join(tmp, "outside.txt"), os.path.join(root, "abs_link"))
    os.symlink("..", os.path.join(root, "sub", "parent"))
    os.symlink("../..", os.path.join(root, "sub", "grandparent"))
    os.mkfifo(os.path.join(root, "fifo"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(root, "sock"))
    sock.close()
    return root, files


def raw(port, target, method=b"GET", headers=b""):
    """One request as bytes on a new connection: (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              + headers + b"\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return status, hdrs, body


def get(conn, target, headers=None, method="GET"):
    return request(None, method, target, headers=headers, conn=conn)


checks = 0


def check(cond, what):
    global checks
    assert cond, what
    checks += 1


with tempfile.TemporaryDirectory(prefix="coil-file-server-", ignore_cleanup_errors=True) as tmp, \
        Programs() as programs:
    root, files = make_tree(tmp)
    proc, port = programs.start([exe, "--port", "0", "--root", root] + args)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    # contents and types, keep-alive on one connection
    types = {"hello.txt": "text/plain", "page.html": "text/html", "style.css": "text/css",
             "pic.png": "image/png", "noext": "application/octet-stream",
             "sub/deep.json": "application/json", "big.bin": "application/octet-stream",
             "empty.txt": "text/plain"}
    for name, ctype in types.items():
        r, body = get(conn, "/" + name)
        check(r.status == 200, "%s: %d" % (name, r.status))
        check(body == files[name], "%s: body differs (%d bytes)" % (name, len(body)))
        check(r.getheader("Content-Type") == ctype,
              "%s: type %s" % (name, r.getheader("Content-Type")))
        check(r.getheader("Content-Length") == str(len(files[name])), name)
        check(r.getheader("Accept-Ranges") == "bytes", name)
        check(r.getheader("ETag") and r.getheader("Last-Modified"), name)
    r, body = get(conn, "/a%20b%26%3Cc%3E.txt")  # percent-decoded names
    check(r.status == 200 and body == b"odd name", "encoded name: %d" % r.status)
    r, body = get(conn, "/x://y")  # origin-form, though it holds "://"
    check(r.status == 200 and body == b"not a scheme", "/x://y: %d" % r.status)
    r, body = get(conn, "/./sub//deep.json?query=1#frag")
    check(r.status == 200 and body == files["sub/deep.json"], "dot and query: %d" % r.status)
    # symlinks inside the root are followed
    r, body = get(conn, "/in_link")
    check(r.status == 200 and body == files["ten.txt"], "in_link: %d" % r.status)
    r, body = get(conn, "/sub/back_link")
    check(r.status == 200 and body == files["hello.txt"], "back_link: %d" % r.status)
    r, body = get(conn, "/sub/parent/ten.txt")
    check(r.status == 200 and body == files["ten.txt"], "parent link: %d" % r.status)

    # HEAD: the headers of a GET, no body
    r, body = get(conn, "/big.bin", method="HEAD")
    check(r.status == 200 and body == b"", "HEAD: %d" % r.status)
    check(r.getheader("Content-Length") == str(1 << 20), "HEAD length")
    check(r.getheader("Content-Type") == "application/octet-stream", "HEAD type")

    # Range
    big = files["big.bin"]
    for spec, lo, hi in [("bytes=0-0", 0, 0), ("bytes=2-5", 2, 5), ("bytes=7-", 7, 9),
                         ("bytes=-3", 7, 9), ("bytes=5-100", 5, 9), ("bytes=-100", 0, 9)]:
        r, body = get(conn, "/ten.txt", {"Range": spec})
        check(r.status == 206, "%s: %d" % (spec, r.status))
        check(body == files["ten.txt"][lo:hi + 1], "%s: %r" % (spec, body))
        check(r.getheader("Content-Range") == "bytes %d-%d/10" % (lo, hi),
              "%s: %s" % (spec, r.getheader("Content-Range")))
    r, body = get(conn, "/big.bin", {"Range": "bytes=1000000-1048575"})
    check(r.status == 206 and body == big[1000000:], "big range: %d" % r.status)
    r, body = get(conn, "/big.bin", {"Range": "bytes=4096-8191"}, method="HEAD")
    check(r.status == 206 and r.getheader("Content-Length") == "4096", "HEAD range")
    for spec in ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=99999999999-",
                 "bytes=999999999999999999-"]:
        r, body = get(conn, "/ten.txt", {"Range": spec})
        check(r.status == 416, "%s: %d" % (spec, r.status))
        check(r.getheader("Content-Range") == "bytes */10", "416 Content-Range")
    r, body = get(conn, "/empty.txt", {"Range": "bytes=0-"})
    check(r.status == 416, "empty file range: %d" % r.status)
    # several ranges, or one we cannot read: the whole file
    for spec in ["bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=abc",
                 "bytes=99999999999999999999999-", "bytes=0-99999999999999999999999"]:
        r, body = get(conn, "/ten.txt", {"Range": spec})
        check(r.status == 200 and body == files["ten.txt"], "%s: %d" % (spec, r.status))

    # conditional requests
    r, _ = get(conn, "/hello.txt")
    etag, modified = r.getheader("ETag"), r.getheader("Last-Modified")
    check(re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', etag), "etag %s" % etag)
    for hdrs in [{"If-None-Match": etag}, {"If-None-Match": '"x", W/' + etag},
                 {"If-None-Match": "*"}, {"If-Modified-Since": modified},
                 {"If-Modified-Since": email.utils.formatdate(2e9, usegmt=True)}]:
        r, body = get(conn, "/hello.txt", hdrs)
        check(r.status == 304 and body == b"", "%s: %d" % (hdrs, r.status))
        check(r.getheader("ETag") == etag, "304 ETag")
        cl = r.getheader("Content-Length")
        check(cl is None or cl == str(len(files["hello.txt"])), "304 Content-Length %s" % cl)
    r, body = get(conn, "/hello.txt", {"If-None-Match": etag}, method="HEAD")
    check(r.status == 304, "HEAD 304: %d" % r.status)
    for hdrs in [{"If-None-Match": '"other"'},
                 {"If-None-Match": '"other"', "If-Modified-Since": modified},
                 {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"},
                 {"If-Modified-Since": "not a date"}]:
        r, body = get(conn, "/hello.txt", hdrs)
        check(r.status == 200 and body == files["hello.txt"], "%s: %d" % (hdrs, r.status))
    # If-Range: the range only while the validator matches
    r, body = get(conn, "/ten.txt", {"Range": "bytes=0-1", "If-Range": '"stale"'})
    check(r.status == 200 and body == files["ten.txt"], "If-Range stale: %d" % r.status)
    r, _ = get(conn, "/ten.txt")
    r, body = get(conn, "/ten.txt", {"Range": "bytes=0-1", "If-Range": r.getheader("ETag")})
    check(r.status == 206 and body == b"01", "If-Range match: %d" % r.status)

    # directories
    r, body = get(conn, "/site")
    check(r.status == 301 and r.getheader("Location") == "/site/", "redirect: %d" % r.status)
    r, body = get(conn, "/site/")
    check(r.status == 200 and body == files["site/index.html"], "index: %d" % r.status)
    check(r.getheader("Content-Type") == "text/html", "index type")
    r, body = get(conn, "/empty/")
    check(r.status == 403, "no listing without --list: %d" % r.status)
    r, body = get(conn, "/fifo")
    check(r.status == 403, "fifo: %d" % r.status)
    r, body = get(conn, "/sock")
    check(r.status == 403, "socket: %d" % r.status)
    r, body = get(conn, "/missing.txt")
    check(r.status == 404, "missing: %d" % r.status)
    r, body = get(conn, "/hello.txt/")
    check(r.status == 404, "file as dir: %d" % r.status)
    conn.close()

    # methods
    for m in [b"POST", b"PUT", b"DELETE", b"OPTIONS"]:
        st, hd, body = raw(port, b"/hello.txt", m, b"Content-Length: 0\r\n")
        check(st == 405 and hd.get("allow") == "GET, HEAD", "%s: %d" % (m, st))

    # every way out of the root
    outside = os.path.join(tmp, "outside.txt").encode()
    escapes = [
        b"/../outside.txt", b"/sub/../../outside.txt", b"/%2e%2e/outside.txt",
        b"/%2E%2E/%2e%2E/outside.txt", b"/.%2e/outside.txt", b"/..%2foutside.txt",
        b"/%2e%2e%2foutside.txt", b"/sub%2f..%2f..%2foutside.txt", b"/..%5coutside.txt",
        b"/%252e%252e/outside.txt", b"/" + outside, b"//" + outside, b"/%2F" + outside[1:],
        b"http://t" + outside, b"/up_link", b"/abs_link", b"/sub/grandparent/outside.txt",
        b"/ten.txt%00.html", b"/%00", b"/hello.txt%00/../../outside.txt", b"/a%zz",
        b"/%", b"/%0a", b"outside.txt", b"/\x00", b"/\x00../outside.txt",
        b"/hello.txt\x00/../../outside.txt",
    ]
    for target in escapes:
        st, hd, body = raw(port, target)
        check(st in (400, 403, 404), "%r: %d" % (target, st))
        check(SECRET not in body, "%r: served the secret" % target)
        check(b"hello, file" not in body, "%r: served a file" % target)
    # the server still serves after them
    st, hd, body = raw(port, b"/hello.txt")
    check(st == 200 and body == files["hello.txt"], "after the escapes: %d" % st)
    stop([proc], sig)

    # --list, and the built-in types when mime.types is missing
    proc, port = programs.start([exe, "--port", "0", "--root", root, "--list",
                                 "--mime-types", os.path.join(tmp, "none")] + args)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    r, body = get(conn, "/")
    check(r.status == 200 and r.getheader("Content-Type") == "text/html", "listing")
    for want in [b'href="hello.txt"', b'href="sub/"', b'href="a%20b%26%3Cc%3E.txt"',
                 b"a b&amp;&lt;c&gt;.txt"]:
        check(want in body, "listing lacks %r" % want)
    check(SECRET not in body and b"outside.txt" not in body, "listing shows outside")
    r, body = get(conn, "/empty/")
    check(r.status == 200 and b"<ul>\n</ul>" in body, "empty listing")
    r, body = get(conn, "/site/")
    check(body == files["site/index.html"], "index before listing")
    for name, ctype in [("style.css", "text/css"), ("pic.png", "image/png"),
                        ("noext", "application/octet-stream")]:
        r, body = get(conn, "/" + name)
        check(r.getheader("Content-Type") == ctype, "built-in %s: %s"
              % (name, r.getheader("Content-Type")))
    r, body = get(conn, "/../")
    check(r.status == 400, "listing above the root: %d" % r.status)
    conn.close()
    stop([proc], sig)
    print("file_server: %d checks passed, exit 0 on %s" % (checks, sig.name))
