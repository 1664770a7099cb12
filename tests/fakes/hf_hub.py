"""A loopback fake of the Hugging Face Hub: the part of its API that huggingface_hub's
`model_info` and `snapshot_download` use, serving repos given as {path: bytes}.

- `GET /api/models/{repo}[/revision/{rev}]`: the repo's commit sha and files (`siblings`, sizes).
- `GET /api/models/{repo}/tree/{rev}`: the file listing snapshot_download caches.
- `HEAD|GET /{repo}/resolve/{rev}/{file}`: a file, with the headers huggingface_hub checks
  (`X-Repo-Commit`, `ETag`, `Content-Length`).

A gated repo answers 401 with `X-Error-Code: GatedRepo` as the Hub does without an accepted
token; an unknown repo 401 `RepoNotFound`. Every request is recorded with its Authorization header.
"""

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeHub:
    base_url: str
    repos: dict[str, dict[str, bytes]]
    gated: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)

    def sha(self, repo: str) -> str:
        digest = hashlib.sha1()
        for name, data in sorted(self.repos[repo].items()):
            digest.update(name.encode() + hashlib.sha256(data).digest())
        return digest.hexdigest()

    def downloaded(self, repo: str) -> list[str]:
        """The files of repo fetched with GET, in order."""
        prefix = f"/{repo}/resolve/"
        return [unquote(r.path[len(prefix) :].split("/", 1)[1]) for r in self.requests if r.method == "GET" and r.path.startswith(prefix)]


def repo_files(folder: Path) -> dict[str, bytes]:
    """A model folder's files as a repo: {relative posix path: bytes}."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@contextmanager
def fake_hub(repos: dict[str, dict[str, bytes]], gated: set[str] | None = None) -> Iterator[FakeHub]:
    hub = FakeHub("", repos, gated or set())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.answer()

        def do_HEAD(self) -> None:  # noqa: N802
            self.answer()

        def answer(self) -> None:
            path = urlsplit(self.path).path
            hub.requests.append(Request(self.command, path, self.headers.get("Authorization")))
            match = INFO.match(path) or TREE.match(path) or RESOLVE.match(path)
            if match is None:
                return self.send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})
            repo = match["repo"]
            if repo not in hub.repos:
                return self.send(401, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            if repo in hub.gated:
                message = f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it."
                return self.send(401, json.dumps({"error": message}).encode(), {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
            sha = hub.sha(repo)
            if match["rev"] not in (None, "main", sha):
                return self.send(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
            files = hub.repos[repo]
            oid = {name: hashlib.sha1(data).hexdigest() for name, data in files.items()}
            if match.re is INFO:
                siblings = [{"rfilename": name, "size": len(data), "blobId": oid[name]} for name, data in files.items()]
                return self.send(200, json.dumps({"id": repo, "sha": sha, "siblings": siblings}).encode())
            if match.re is TREE:
                tree = [{"type": "file", "path": name, "size": len(data), "oid": oid[name]} for name, data in files.items()]
                return self.send(200, json.dumps(tree).encode())
            name = unquote(match["file"])
            if name not in files:
                return self.send(404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha})
            etag = f'"{hashlib.sha256(files[name]).hexdigest()}"'
            self.send(200, files[name], {"X-Repo-Commit": sha, "ETag": etag}, content_type="application/octet-stream")

        def send(self, status: int, body: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


def point_huggingface_hub_at(monkeypatch: pytest.MonkeyPatch, base_url: str, cache_dir: Path) -> None:
    """This process's huggingface_hub, already imported, talks to base_url and caches into
    cache_dir (it reads HF_ENDPOINT and HF_HUB_CACHE once, at import). HF_HUB_OFFLINE stays on, as
    the Makefile sets it, and no token is found unless a test sets HF_TOKEN."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", base_url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", base_url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(cache_dir / "no-token"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
