"""``gitstore serve``: a store, read-only over HTTP, with pages to browse what is published.

Two kinds of URL, GET and HEAD only (any other method is 405):

- the store's own layout as plain files — ``/objects/ab/cd/<oid>``,
  ``/commits/...``, ``/branches/<b>.yaml`` — so that an ``http://`` remote reads
  the store back; objects are streamed (never read whole into memory) and
  honour a single ``Range: bytes=a-b`` (206, or 416 when unsatisfiable); a
  ``?filename=NAME`` query adds a ``Content-Disposition`` for downloads;
- pages: ``/`` (branches), ``/ui/branch/<b>`` (published commits),
  ``/ui/commit/<sha>`` (manifests as of a commit, with sizes),
  ``/ui/commit/<sha>/<manifest path>`` (its files, with download links) and
  ``/ui/diff/<a>/<b>`` (what changed between two published commits). Each is
  HTML, or JSON when the request says ``Accept: application/json``.

No request reads outside the store: every path segment is decoded once and
refused when it is empty, ``.``, ``..`` or holds ``/``, ``\\`` or NUL; only
the three top folders are served; and in a folder store the real path (all
symlinks resolved) must lie inside the store's real root. Everything shown in
HTML is escaped. Serving https is left to a TLS-terminating proxy (docs/publish.md).
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
import re
import stat
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import layout
from .errors import GitstoreError, ObjectNotFoundError, PathError, RevisionError
from .published import (
    GUESSED_BRANCHES,
    BranchDocument,
    PublishedCommit,
    find_commit,
    full_path,
    list_branches,
    manifests_as_of,
    read_branch,
    read_entry,
)
from .stores.base import Store

if TYPE_CHECKING:
    from .manifest import Entry, Manifest

__all__ = ["StoreServer", "make_server"]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RAW_TOP = ("objects", "commits", "branches")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}"
    "code{font-size:90%}.incomplete{color:#b00}.removed{color:#777}.added{color:#070}"
)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StoreServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store, quiet: bool = False) -> None:
        self.store = store
        self.quiet = quiet
        from .stores.local import LocalStore

        inner: Any = store
        while getattr(inner, "inner", None) is not None:
            inner = inner.inner
        self.root = os.path.realpath(inner.root) if isinstance(inner, LocalStore) else None
        super().__init__(address, Handler)


def make_server(
    store: Store, host: str = "127.0.0.1", port: int = 8000, *, quiet: bool = False
) -> StoreServer:
    """A server bound to (host, port) (port 0: any free port); call ``serve_forever``."""
    try:
        return StoreServer((host, port), store, quiet)
    except OSError as exc:
        raise GitstoreError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _url(*segments: str) -> str:
    return "/" + "/".join(quote(s, safe="") for s in segments)


class Handler(BaseHTTPRequestHandler):
    server: StoreServer
    server_version = "gitstore"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle's algorithm the body
    # waits for the client's delayed ACK of the headers, ~40 ms a request
    # on a kept-alive connection
    disable_nagle_algorithm = True

    # any method but GET and HEAD: 405
    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send_text(
            405,
            f"{self.command} is not allowed: this server is read-only\n",
            extra={"Allow": "GET, HEAD"},
        )

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if not self.server.quiet:
            log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    # -- dispatch ----------------------------------------------------------------
    def _handle(self) -> None:
        try:
            parts = urlsplit(self.path)
            segments = self._segments(parts.path, names=parts.path.startswith("/ui/"))
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if segments and segments[0] in RAW_TOP:
                self._raw("/".join(segments), query)
            elif segments and segments[0] == "ui":
                self._page(segments[1:], query)
            elif not segments:
                self._index()
            else:
                raise HttpError(404, "not found")
        except HttpError as exc:
            self._send_text(exc.status, exc.message + "\n")
        except (RevisionError, PathError, ObjectNotFoundError) as exc:
            self._send_text(404, exc.message + "\n")
        except GitstoreError as exc:
            self._send_text(502, exc.message + "\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    @staticmethod
    def _segments(raw_path: str, names: bool = False) -> list[str]:
        """The path's segments, decoded; ``names``: a page's, where a segment
        may be a branch name with a slash (``feature%2Fx``), never a store key."""
        if not raw_path.startswith("/"):
            raise HttpError(400, "bad request")
        raw = raw_path[1:]
        if raw.endswith("/"):
            raw = raw[:-1]
        if not raw:
            return []
        out = []
        for piece in raw.split("/"):
            try:
                segment = unquote(piece, errors="strict") if "%" in piece else piece
            except UnicodeDecodeError:
                raise HttpError(400, "bad path") from None
            pieces = segment.split("/") if names else [segment]
            if any(p in ("", ".", "..") for p in pieces) or any(c in segment for c in "\\\x00"):
                raise HttpError(400, "bad path")
            if "/" in segment and not names:
                raise HttpError(400, "bad path")
            out.append(segment)
        return out

    # -- plain files -------------------------------------------------------------
    def _raw(self, key: str, query: dict[str, str]) -> None:
        stream, size, mtime, immutable = self._open(key)
        with stream:
            headers = {
                "Content-Type": "application/octet-stream"
                if key.startswith("objects/")
                else "text/plain; charset=utf-8",
                "Accept-Ranges": "bytes",
                "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
            }
            if mtime is not None:
                headers["Last-Modified"] = formatdate(mtime, usegmt=True)
            name = query.get("filename")
            if name:
                safe = re.sub(r'[\x00-\x1f\x7f"\\/;]', "_", name) or "download"
                ascii_name = safe.encode("ascii", "replace").decode().replace("?", "_")
                headers["Content-Disposition"] = (
                    f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe, safe='')}"
                )
            start, end = 0, size - 1
            status = 200
            wanted = self.headers.get("Range")
            if wanted and _RANGE.fullmatch(wanted.strip()):  # else (several ranges): the whole body
                parsed = self._range(wanted, size)
                if parsed is None:
                    self._send_text(
                        416, "range not satisfiable\n", extra={"Content-Range": f"bytes */{size}"}
                    )
                    return
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(max(0, end - start + 1)))
            self.end_headers()
            if self.command == "HEAD":
                return
            self._copy(stream, start, end - start + 1)

    @staticmethod
    def _range(value: str, size: int) -> tuple[int, int] | None:
        match = _RANGE.fullmatch(value.strip())
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        if not first:  # the last N bytes
            n = int(last)
            return None if n == 0 or size == 0 else (max(0, size - n), size - 1)
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if start >= size or (last and int(last) < start):
            return None
        return start, end

    def _copy(self, stream: BinaryIO, start: int, length: int) -> None:
        if start:
            if stream.seekable():
                stream.seek(start)
            else:
                skip = start
                while skip > 0:
                    block = stream.read(min(CHUNK, skip))
                    if not block:
                        return
                    skip -= len(block)
        while length > 0:
            block = stream.read(min(CHUNK, length))
            if not block:
                break
            self.wfile.write(block)
            length -= len(block)

    def _open(self, key: str) -> tuple[BinaryIO, int, float | None, bool]:
        """(stream, size, mtime, immutable) of a file of the store; 404 when absent."""
        root = self.server.root
        if root is not None:
            real = os.path.realpath(os.path.join(root, *key.split("/")))
            if not real.startswith(root.rstrip(os.sep) + os.sep):
                raise HttpError(404, "not found")
            try:
                stream = open(real, "rb")  # noqa: SIM115 - closed by the caller
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise HttpError(404, "not found") from None
            except OSError as exc:
                raise HttpError(403, f"cannot read: {exc.strerror}") from None
            st = os.fstat(stream.fileno())
            if not stat.S_ISREG(st.st_mode):
                stream.close()
                raise HttpError(404, "not found")
            return stream, st.st_size, st.st_mtime, key.startswith("objects/")
        store = self.server.store
        oid = layout.oid_from_key(key)
        if oid is not None:
            info = store.stat(oid)
            return store.open(oid), info.size, info.mtime, True
        if key.startswith("objects/"):
            raise HttpError(404, "not found")
        doc = store.read_document(key)
        if doc is None:
            raise HttpError(404, "not found")
        return io.BytesIO(doc.data), len(doc.data), None, False

    # -- pages -------------------------------------------------------------------
    def _wants_json(self) -> bool:
        return "application/json" in (self.headers.get("Accept") or "")

    def _page(self, segments: list[str], query: dict[str, str]) -> None:
        if len(segments) == 2 and segments[0] == "branch":
            return self._branch_page(segments[1])
        if len(segments) >= 2 and segments[0] == "commit":
            doc = self._doc_for(segments[1], query.get("branch"))
            if len(segments) == 2:
                return self._commit_page(doc, segments[1])
            return self._manifest_page(doc, segments[1], "/".join(segments[2:]))
        if len(segments) == 3 and segments[0] == "diff":
            return self._diff_page(self._doc_for(segments[2], query.get("branch")), *segments[1:])
        raise HttpError(404, "not found")

    def _doc_for(self, commit: str, branch: str | None) -> BranchDocument:
        store = self.server.store
        names = [branch] if branch else list_branches(store)
        for name in GUESSED_BRANCHES if names is None else names:
            doc = read_branch(store, name)
            if any(c.commit.startswith(commit.lower()) for c in doc.commits):
                return doc
        raise HttpError(
            404, f"commit {commit} is not published" + (f" on {branch}" if branch else "")
        )

    def _index(self) -> None:
        store = self.server.store
        listed, rows = _branch_rows(store)
        if self._wants_json():
            shape: dict[str, Any] = {"store": store.url, "listed": listed, "branches": rows}
            if not listed:
                shape["tried"] = list(GUESSED_BRANCHES)
            return self._send_json(shape)
        body = "".join(
            f'<tr><td><a href="{_esc(r["url"])}">{_esc(r["branch"])}</a></td>'
            f"<td>{r['commits']}</td><td>{_esc(r['latest'] or '')}</td>"
            f"<td><code>{_esc((r['watermark'] or '')[:12])}</code></td></tr>"
            for r in rows
        )
        table = (
            "<table><tr><th>branch</th><th>commits</th><th>latest</th><th>watermark</th></tr>"
            f"{body}</table>"
        )
        if listed:
            page = table if rows else "<p>Nothing is published here yet.</p>"
        else:  # what was tried is not all there may be: never "nothing is published"
            page = (
                f"<p>The list of branches cannot be read from {_esc(store.url)}: a store"
                " read over HTTP gives no folder listing. Open a branch at"
                " <code>/ui/branch/&lt;name&gt;</code> (a slash in the name as"
                " <code>%2F</code>: <code>/ui/branch/feature%2Fx</code>).</p>"
            )
            if rows:
                tried = " and ".join(GUESSED_BRANCHES)
                page += f"<p>Of the branches tried ({_esc(tried)}), published here:</p>{table}"
            else:
                page += f"<p>Neither {_esc(' nor '.join(GUESSED_BRANCHES))} is published here.</p>"
        self._send_html("Published branches", page)

    def _branch_page(self, branch: str) -> None:
        doc = read_branch(self.server.store, branch)
        if doc.version is None:
            raise HttpError(404, f"branch {branch} is not published")
        items = []
        for i in range(len(doc.commits) - 1, -1, -1):
            c = doc.commits[i]
            prev = doc.commits[i - 1].commit if i else None
            items.append((c, prev))
        if self._wants_json():
            return self._send_json(
                {
                    **doc.to_json(),
                    "commits": [
                        {
                            **c.to_json(),
                            "url": self._commit_url(c.commit, branch),
                            "diff_url": self._diff_url(prev, c.commit, branch) if prev else None,
                        }
                        for c, prev in items
                    ],
                }
            )
        rows = "".join(
            f'<tr><td><a href="{_esc(self._commit_url(c.commit, branch))}"><code>{c.commit[:12]}</code></a></td>'
            f"<td>{_esc(c.date)}</td><td>{self._touched(c)}</td><td>"
            + (f'<a href="{_esc(self._diff_url(prev, c.commit, branch))}">diff</a>' if prev else "")
            + "</td></tr>"
            for c, prev in items
        )
        self._send_html(
            f"Branch {branch}",
            f"<p>watermark <code>{_esc(doc.watermark or '')}</code>, {len(doc.commits)} published commits</p>"
            "<table><tr><th>commit</th><th>date</th><th>manifests changed</th><th></th></tr>"
            f"{rows}</table>",
        )

    @staticmethod
    def _touched(c: PublishedCommit) -> str:
        out = []
        for m in c.manifests:
            status = c.status_of(m)
            mark = f' <span class="{status}">({status})</span>' if status != "ok" else ""
            out.append(f"{_esc(m)}{mark}")
        return "<br>".join(out)

    @staticmethod
    def _commit_url(commit: str, branch: str, manifest: str | None = None) -> str:
        tail = "/" + "/".join(quote(p, safe="") for p in manifest.split("/")) if manifest else ""
        return f"{_url('ui', 'commit', commit)}{tail}?branch={quote(branch, safe='')}"

    @staticmethod
    def _diff_url(a: str | None, b: str, branch: str) -> str:
        return f"{_url('ui', 'diff', a or '', b)}?branch={quote(branch, safe='')}"

    def _view(self, doc: BranchDocument, index: int) -> list[dict[str, Any]]:
        store, here = self.server.store, doc.commits[index]
        out = []
        for m, pc in manifests_as_of(doc, index).items():
            entry = read_entry(store, pc.commit, m)
            manifest = entry.manifest if entry else None
            out.append(
                {
                    "manifest": m,
                    "path": m[: -len(".gitstore")],
                    "commit": pc.commit,
                    "date": pc.date,
                    "status": entry.status if entry else "missing",
                    "changed_here": pc is here,
                    "kind": manifest.kind if manifest else None,
                    "files": manifest.files if manifest else None,
                    "size": manifest.size if manifest else None,
                    "url": self._commit_url(here.commit, doc.branch, m),
                }
            )
        return out

    def _commit_page(self, doc: BranchDocument, commit: str) -> None:
        index = find_commit(doc, commit)
        here = doc.commits[index]
        view = self._view(doc, index)
        if self._wants_json():
            return self._send_json({"branch": doc.branch, **here.to_json(), "tree": view})
        rows = "".join(
            f'<tr><td><a href="{_esc(v["url"])}">{_esc(v["path"])}</a>'
            + (' <span class="added">(changed here)</span>' if v["changed_here"] else "")
            + f"</td><td>{_esc(v['kind'] or '')}</td><td>{_esc(v['files'] if v['files'] is not None else '')}</td>"
            f"<td>{_esc(v['size'] if v['size'] is not None else '')}</td>"
            f'<td class="{_esc(v["status"])}">{_esc(v["status"])}</td></tr>'
            for v in view
        )
        removed = "".join(f'<li class="removed">{_esc(m)} (removed)</li>' for m in here.removed)
        self._send_html(
            f"Commit {here.commit[:12]}",
            f'<p>branch <a href="{_esc(_url("ui", "branch", doc.branch))}">{_esc(doc.branch)}</a>,'
            f" commit <code>{here.commit}</code>, {_esc(here.date)}</p>"
            "<table><tr><th>path</th><th>kind</th><th>files</th><th>bytes</th><th>status</th></tr>"
            f"{rows}</table>" + (f"<ul>{removed}</ul>" if removed else ""),
        )

    def _manifest_page(self, doc: BranchDocument, commit: str, manifest_path: str) -> None:
        index = find_commit(doc, commit)
        here = doc.commits[index]
        current = manifests_as_of(doc, index).get(manifest_path)
        if current is None:
            raise HttpError(404, f"{manifest_path} is not published as of {commit}")
        entry = read_entry(self.server.store, current.commit, manifest_path)
        if entry is None or entry.manifest is None:
            raise HttpError(
                404, f"{manifest_path} at {current.commit[:12]} is missing from the store"
            )
        manifest, tracked = entry.manifest, manifest_path[: -len(".gitstore")]
        missing = set(entry.missing)
        files: list[dict[str, Any]] = []
        for e in manifest.entries:
            name = e.path.rsplit("/", 1)[-1]
            files.append(
                {
                    "path": full_path(tracked, manifest, e),
                    "oid": e.oid,
                    "size": e.size,
                    "exec": e.exec,
                    "missing": e.oid in missing,
                    "url": "/" + layout.object_key(e.oid) + "?filename=" + quote(name, safe=""),
                }
            )
        if self._wants_json():
            return self._send_json(
                {
                    "branch": doc.branch,
                    "commit": here.commit,
                    "manifest": manifest_path,
                    "published_at": current.commit,
                    "status": entry.status,
                    "kind": manifest.kind,
                    "files": files,
                }
            )
        rows = "".join(
            f"<tr><td>{_esc(f['path'])}</td><td>{f['size']}</td><td><code>{f['oid'][:16]}</code></td><td>"
            + (
                '<span class="incomplete">missing</span>'
                if f["missing"]
                else f'<a href="{_esc(f["url"])}" download>download</a>'
            )
            + "</td></tr>"
            for f in files
        )
        self._send_html(
            f"{tracked} at {here.commit[:12]}",
            f'<p><a href="{_esc(self._commit_url(here.commit, doc.branch))}">commit {here.commit[:12]}</a>;'
            f" this version was published at <code>{current.commit[:12]}</code> ({_esc(current.date)}),"
            f' status <span class="{_esc(entry.status)}">{_esc(entry.status)}</span></p>'
            f"<table><tr><th>file</th><th>bytes</th><th>blake3</th><th></th></tr>{rows}</table>",
        )

    def _diff_page(self, doc: BranchDocument, a: str, b: str) -> None:
        from .manifestdiff import diff_entries

        store = self.server.store
        ia, ib = find_commit(doc, a), find_commit(doc, b)
        before, after = manifests_as_of(doc, ia), manifests_as_of(doc, ib)
        changes: list[dict[str, Any]] = []
        for m in sorted(before.keys() | after.keys()):
            old_pc, new_pc = before.get(m), after.get(m)
            if old_pc is new_pc:
                continue
            old = read_entry(store, old_pc.commit, m) if old_pc else None
            new = read_entry(store, new_pc.commit, m) if new_pc else None
            old_m = old.manifest if old else None
            new_m = new.manifest if new else None
            tracked = m[: -len(".gitstore")]
            diff = diff_entries(_by_full_path(tracked, old_m), _by_full_path(tracked, new_m))
            items = [("added", c.path, c.size) for c in diff.added]
            items += [("removed", c.path, c.size) for c in diff.removed]
            items += [("modified", c.path, c.new_size) for c in diff.modified]
            items += [("renamed", f"{c.old_path} -> {c.path}", c.size) for c in diff.renamed]
            changes.append(
                {
                    "manifest": m,
                    "changes": [
                        {"change": w, "path": p, "size": s}
                        for w, p, s in sorted(items, key=lambda x: x[1])
                    ],
                }
            )
        ca, cb = doc.commits[ia].commit, doc.commits[ib].commit
        if self._wants_json():
            return self._send_json(
                {"branch": doc.branch, "from": ca, "to": cb, "manifests": changes}
            )
        body = "".join(
            f"<h2>{_esc(c['manifest'])}</h2><table>"
            + "".join(
                f'<tr><td class="{x["change"]}">{x["change"]}</td><td>{_esc(x["path"])}</td>'
                f"<td>{x['size']}</td></tr>"
                for x in c["changes"]
            )
            + "</table>"
            for c in changes
        )
        self._send_html(f"Changes {ca[:12]}..{cb[:12]}", body or "<p>No changes.</p>")

    # -- responses ---------------------------------------------------------------
    def _send_bytes(
        self, status: int, data: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_text(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        self._send_bytes(status, text.encode(), "text/plain; charset=utf-8", extra)

    def _send_json(self, value: Any) -> None:
        self._send_bytes(
            200, json.dumps(value, indent=2, ensure_ascii=False).encode(), "application/json"
        )

    def _send_html(self, title: str, body: str) -> None:
        page = (
            '<!doctype html><html><head><meta charset="utf-8">'
            f"<title>{_esc(title)} - gitstore</title><style>{_STYLE}</style></head><body>"
            f'<nav><a href="/">gitstore</a></nav><h1>{_esc(title)}</h1>{body}</body></html>'
        )
        self._send_bytes(
            200,
            page.encode("utf-8"),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )


def _branch_rows(store: Store) -> tuple[bool, list[dict[str, Any]]]:
    """(whether the store listed its branches, a row for each published one). Where it
    cannot list them (an http(s) store), the rows are those of :data:`GUESSED_BRANCHES`
    that are published."""
    names = list_branches(store)
    rows: list[dict[str, Any]] = []
    for name in GUESSED_BRANCHES if names is None else names:
        doc = read_branch(store, name)
        if doc.version is None and names is None:
            continue  # a guess that is not published here
        last = doc.commits[-1] if doc.commits else None
        rows.append(
            {
                "branch": name,
                "watermark": doc.watermark,
                "commits": len(doc.commits),
                "latest": last.date if last else None,
                "url": _url("ui", "branch", name),
            }
        )
    return names is not None, rows


def _by_full_path(tracked: str, manifest: Manifest | None) -> dict[str, Entry]:
    if manifest is None:
        return {}
    return {full_path(tracked, manifest, e): e for e in manifest.entries}
