"""`gridder serve` as `make run` starts it: a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    (tmp_path / "check.json").write_text(json.dumps({"buildings": 3}), encoding="utf-8")
    return tmp_path


@contextmanager
def serving(*options: str) -> Iterator[str]:
    """``gridder serve OPTIONS`` on a free port, until it answers /health; its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridder", "serve", *options, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            proc.terminate()
            raise AssertionError(proc.communicate(timeout=10)[1].decode())
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture
def server(demo_dir: Path) -> Iterator[str]:
    with serving("--demo", str(demo_dir)) as url:
        yield url


def test_skeleton_endpoints(server: str) -> None:
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    spec = httpx.get(f"{server}/openapi.json").json()
    assert "/health" in spec["paths"]
    assert httpx.get(f"{server}/demo/check.json").json() == {"buildings": 3}
    # the address make run prints leads somewhere: the maps, or the API docs without them
    home = httpx.get(f"{server}/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] in {"/maps/", "/docs"}
    assert httpx.get(f"{server}/", follow_redirects=True).status_code == 200
    # the interactive docs load nothing from the internet (an intranet has no CDN)
    page = httpx.get(f"{server}/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and not [u for u in urls if "://" in u], urls
    for u in urls:
        got = httpx.get(f"{server}{u}")
        assert got.status_code == 200 and got.content, u
    assert "SwaggerUIBundle" in httpx.get(f"{server}/docs/assets/swagger-ui-bundle.js").text


def test_busy_port_is_a_clear_message(demo_dir: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gridder",
                "serve",
                "--demo",
                str(demo_dir),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    assert f"port {port}" in proc.stderr and "busy" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_port_and_missing_files_exit_2(demo_dir: Path, tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gridder", "serve", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    bad_port = serve("--demo", str(demo_dir), "--port", "99999")
    assert bad_port.returncode == 2 and "port number 1-65535" in bad_port.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    missing = serve("--plan", str(tmp_path / "nope.gpkg"), "--port", str(free))
    assert missing.returncode == 2 and "no such plan file" in missing.stderr
    # a mistyped --plans directory used to start an empty server (and create it)
    typo = serve("--plans", str(tmp_path / "plnas"), "--port", str(free))
    assert typo.returncode == 2 and "not a directory of plans" in typo.stderr
    assert not (tmp_path / "plnas").exists()
    assert "Traceback" not in bad_port.stderr + missing.stderr + typo.stderr


def test_input_root_limits_what_jobs_may_read(tmp_path: Path) -> None:
    """``gridder serve --input-root DIR``: POST /v1/plans reads server files under DIR only."""
    import hashlib

    allowed, other, plans = tmp_path / "allowed", tmp_path / "other", tmp_path / "plans"
    for d in (allowed, other, plans):
        d.mkdir()
    (other / "c.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    key = "k3y"
    digest = hashlib.sha256(key.encode()).hexdigest()
    options = ["--plans", str(plans), "--api-key-hash", digest]
    bad = subprocess.run(
        [sys.executable, "-m", "gridder", "serve", *options, "--input-root", str(tmp_path / "no")],
        check=False,
        capture_output=True,
        timeout=60,
    )
    assert bad.returncode == 2 and b"--input-root" in bad.stderr
    with serving(*options, "--input-root", str(allowed)) as url:
        body = {"communities": str(other / "c.geojson"), "buildings": str(other / "c.geojson")}
        r = httpx.post(f"{url}/v1/plans", json=body, headers={"X-API-Key": key}, timeout=10)
        assert r.status_code == 422, r.text
        assert "not under an allowed input directory" in r.json()["detail"][0]["msg"]
