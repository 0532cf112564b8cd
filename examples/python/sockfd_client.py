#!/usr/bin/env python3
"""A parent program in the container-image-proxy style.

It creates a socketpair, hands one half to an image-passthrough core as fd 3, speaks
HTTP/1.1 on its own half, fetches the image's manifest and every blob, checks each blob's
sha256 itself, asks the core to quit and checks that it exited 0.

    sockfd_client.py [--core "image-passthrough"] [--platform linux/arm64] docker://host/repo:tag

Standard library only. Prints one JSON line with what it fetched; exits non-zero on failure.
"""
import argparse
import hashlib
import http.client
import json
import os
import shlex
import socket
import subprocess
import sys

CHUNK = 1 << 16


class SocketConnection(http.client.HTTPConnection):
    """An HTTPConnection over an already connected socket: it never dials anything."""

    def __init__(self, sock):
        super().__init__("core")
        self.sock = sock

    def connect(self):
        raise ConnectionError("the core connection is closed")


def fetch_blob(conn, digest, query):
    conn.request("GET", f"/blobs/{digest}{query}")
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"blob {digest}: {resp.status} {resp.read().decode(errors='replace')}")
    algorithm, expected = digest.split(":", 1)
    h = hashlib.new(algorithm)
    size = 0
    while True:
        chunk = resp.read(CHUNK)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
    if h.hexdigest() != expected:
        raise RuntimeError(f"blob {digest}: got sha256:{h.hexdigest()}")
    length = resp.getheader("Content-Length")
    if length is not None and int(length) != size:
        raise RuntimeError(f"blob {digest}: {size} bytes, Content-Length said {length}")
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="image reference, e.g. docker://quay.io/x/y:tag")
    parser.add_argument("--core", default=os.environ.get("IMAGE_PASSTHROUGH", "image-passthrough"),
                        help="command that runs image-passthrough (default: image-passthrough on PATH)")
    parser.add_argument("--platform", help="os/arch[/variant]")
    args = parser.parse_args()

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cmd = shlex.split(args.core) + ["core", "--sockfd", "3", args.image]
    if args.platform:
        cmd += ["--platform", args.platform]
    # The child sees its half of the pair as fd 3. close_fds would run after preexec_fn and close
    # that fd again; Python's own descriptors are non-inheritable anyway, so nothing else leaks.
    # When the half already is fd 3 (stdin closed at start), dup2 is a no-op that leaves it
    # close-on-exec: mark it inheritable instead.
    def hand_over():
        if child.fileno() != 3:
            os.dup2(child.fileno(), 3)
        os.set_inheritable(3, True)

    proc = subprocess.Popen(cmd, close_fds=False, preexec_fn=hand_over)
    child.close()
    conn = SocketConnection(parent)
    try:
        conn.request("GET", "/manifest")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"manifest: {resp.status} {body.decode(errors='replace')}")
        manifest = json.loads(body)
        manifest_digest = resp.getheader("Manifest-Digest")
        blobs = [manifest["config"]] + manifest["layers"]
        fetched = []
        for d in blobs:
            size = fetch_blob(conn, d["digest"], "")
            if size != d["size"]:
                raise RuntimeError(f"blob {d['digest']}: {size} bytes, manifest says {d['size']}")
            fetched.append({"digest": d["digest"], "size": size})
        conn.request("POST", "/quit")
        quit_resp = conn.getresponse()
        quit_resp.read()
        if quit_resp.status != 200:
            raise RuntimeError(f"quit: {quit_resp.status}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        parent.close()
    code = proc.wait(timeout=30)
    if code != 0:
        raise RuntimeError(f"core exited with {code}")
    print(json.dumps({"manifestDigest": manifest_digest, "mediaType": manifest.get("mediaType"),
                      "blobs": fetched, "coreExit": code}))


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # one clear line for the caller, not a traceback
        print(f"sockfd_client: {err}", file=sys.stderr)
        sys.exit(1)
