"""Vendor the dashboard's chart library: uPlot at a pinned version from the npm registry.

`make setup` runs `python -m host_tools.vendor`. It fetches the package's tarball once with npm's
own client (`npm pack NAME@VERSION`, which also checks the registry's integrity hash), refuses it
unless its SHA-256 is the pinned one, and unpacks the few files the page loads into
host_tools/server/static/vendor/ (gitignored), which the server serves at /vendor/. A second run
whose files are all there and intact fetches nothing.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

NAME, VERSION = "uplot", "1.6.32"
SHA256 = "4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"
# tarball member -> file in the vendor folder
FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE",
}
VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server", "static", "vendor")
STAMP = os.path.join(VENDOR, "%s-%s.sha256" % (NAME, VERSION))


class VendorError(Exception):
    """The download failed or was not what was pinned: the message says which."""


def installed(folder=VENDOR):
    """True when every vendored file is there, as unpacked from the pinned tarball."""
    stamp = os.path.join(folder, os.path.basename(STAMP))
    try:
        with open(stamp) as f:
            want = dict(line.split() for line in f if line.strip())
        for name in FILES.values():
            with open(os.path.join(folder, name), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != want.get(name):
                    return False
    except (OSError, ValueError):
        return False
    return True


def unpack(data, folder=VENDOR):
    """Check the tarball's SHA-256 against the pin and unpack FILES into folder."""
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256:
        raise VendorError("%s@%s: SHA-256 is %s, expected %s; refusing it" % (NAME, VERSION, got, SHA256))
    os.makedirs(folder, exist_ok=True)
    lines = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in FILES.items():
            body = tar.extractfile(member).read()
            tmp = os.path.join(folder, name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, os.path.join(folder, name))
            lines.append("%s %s\n" % (name, hashlib.sha256(body).hexdigest()))
    with open(os.path.join(folder, os.path.basename(STAMP)), "w") as f:
        f.writelines(lines)


def fetch(timeout=300):
    """The package's tarball, as `npm pack` fetches it from the configured registry."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is needed to fetch %s@%s (install Node.js and npm)" % (NAME, VERSION))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [npm, "pack", "%s@%s" % (NAME, VERSION), "--pack-destination", tmp, "--json"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise VendorError("npm pack %s@%s took more than %d s" % (NAME, VERSION, timeout))
        if r.returncode != 0:
            raise VendorError("npm pack %s@%s failed: %s" % (NAME, VERSION, r.stderr.strip()[-1000:]))
        try:
            name = json.loads(r.stdout)[0]["filename"]
            with open(os.path.join(tmp, name), "rb") as f:
                return f.read()
        except (ValueError, LookupError, OSError) as e:
            raise VendorError("npm pack %s@%s gave no tarball: %s" % (NAME, VERSION, e))


def main():
    if installed():
        return 0
    try:
        unpack(fetch())
    except VendorError as e:
        print("vendor: %s" % e, file=sys.stderr)
        return 1
    print("vendor: %s %s unpacked into %s" % (NAME, VERSION, os.path.relpath(VENDOR)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
