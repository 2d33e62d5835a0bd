"""The plan comment: find our marker, update that comment, else create one. Exercised against
a loopback server that answers as GitHub's and GitLab's REST APIs document (paginated lists
with Link headers, create, update, error bodies); no network."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from flask_s3.cli import main
from flask_s3.deployer.render import MARKER
from flask_s3.errors import CommentError
from flask_s3.tools.comment import detect_target, parse_links, post_or_update

TOKEN = "ghs_notarealtoken0123456789"


@dataclass
class FakeForge:
    """Comments of pull request 7 of acme/shop (GitHub) and merge request 7 of project 42
    (GitLab), as their APIs expose them."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    refuse: set[str] = field(default_factory=set)  # methods answered 403
    next_link_host: str | None = None  # send "next" links to another host
    user: str = "ci-bot"  # the token's user (GET /user)
    user_status: int = 200  # 403: a workflow's GITHUB_TOKEN, which may not read /user
    redirect: dict[str, str] = field(default_factory=dict)  # method -> Location (HTTP 302)
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)  # method -> forced answer
    next_id: int = 1000
    port: int = 0

    def add(self, body: str, author: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": author, "type": "User"},
            "author": {"username": author},
            "html_url": f"https://github.example/acme/shop/pull/7#issuecomment-{self.next_id}",
        }
        self.comments.append(comment)
        return comment


GITHUB_LIST = "/api/v3/repos/acme/shop/issues/7/comments"
GITHUB_ITEM = "/api/v3/repos/acme/shop/issues/comments/"
GITLAB_LIST = "/api/v4/projects/42/merge_requests/7/notes"


def handler_for(forge: FakeForge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def handle_any(self) -> None:
            url = urlsplit(self.path)
            github = url.path.startswith("/api/v3/")
            auth = self.headers.get("Authorization" if github else "PRIVATE-TOKEN", "")
            forge.requests.append((self.command, self.path, auth))
            if auth != (f"Bearer {TOKEN}" if github else TOKEN):
                message = "Bad credentials" if github else "401 Unauthorized"
                return self.answer(401, {"message": message})
            if self.command in forge.refuse:
                return self.answer(403, {"message": "Resource not accessible by integration"})
            if url.path in ("/api/v3/user", "/api/v4/user") and self.command == "GET":
                if forge.user_status != 200:
                    message = "Resource not accessible by integration"
                    return self.answer(forge.user_status, {"message": message})
                return self.answer(200, {"login" if github else "username": forge.user, "id": 5})
            if self.command in forge.redirect:
                return self.answer(302, {}, {"Location": forge.redirect[self.command]})
            if self.command in forge.answers:
                return self.answer(*forge.answers[self.command])
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length)) if length else None
            if self.command == "GET" and url.path in (GITHUB_LIST, GITLAB_LIST):
                query = parse_qs(url.query)
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                chunk = forge.comments[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(forge.comments):
                    host = forge.next_link_host or f"127.0.0.1:{forge.port}"
                    nxt = f"http://{host}{url.path}?per_page={per_page}&page={page + 1}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                    if not github:
                        headers["X-Next-Page"] = str(page + 1)
                return self.answer(200, chunk, headers)
            if self.command == "POST" and url.path in (GITHUB_LIST, GITLAB_LIST):
                return self.answer(201, forge.add(payload["body"], "ci-bot"))
            prefix = GITHUB_ITEM if github else GITLAB_LIST + "/"
            verb = "PATCH" if github else "PUT"
            if self.command == verb and url.path.startswith(prefix):
                wanted = int(url.path[len(prefix) :])
                for comment in forge.comments:
                    if comment["id"] == wanted:
                        comment["body"] = payload["body"]
                        return self.answer(200, comment)
            return self.answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_PUT = handle_any

    return Handler


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    state = FakeForge()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def github_env(forge: FakeForge, tmp_path: Path, number: int | None = 7) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}} if number else {}))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": f"http://127.0.0.1:{forge.port}/api/v3",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": TOKEN,
    }


def gitlab_env(forge: FakeForge) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": f"http://127.0.0.1:{forge.port}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "FLASK_S3_GITLAB_TOKEN": TOKEN,
    }


def test_github_updates_our_comment_found_on_the_second_page(forge, tmp_path):
    for i in range(130):
        forge.add(f"looks good {i}")
    ours = forge.comments[117]
    ours["body"] = f"{MARKER}\nold plan"
    ours["user"] = {"login": "ci-bot", "type": "Bot"}
    forge.add(f"> {MARKER} quoted by a reviewer")  # does not start with the marker
    posted = post_or_update(detect_target(github_env(forge, tmp_path)), f"{MARKER}\nnew plan")
    assert posted.action == "updated" and posted.comment_id == str(ours["id"])
    assert ours["body"] == f"{MARKER}\nnew plan" and len(forge.comments) == 131
    methods = [(m, p.split("?")[0]) for m, p, _ in forge.requests]
    assert methods == [
        ("GET", "/api/v3/user"),
        ("GET", GITHUB_LIST),
        ("GET", GITHUB_LIST),
        ("PATCH", f"{GITHUB_ITEM}{ours['id']}"),
    ]
    assert "per_page=100" in forge.requests[1][1] and "page=2" in forge.requests[2][1]
    assert {auth for _, _, auth in forge.requests} == {f"Bearer {TOKEN}"}


def test_github_creates_once_then_updates_the_same_comment(forge, tmp_path):
    forge.add("first!")
    target = detect_target(github_env(forge, tmp_path))
    first = post_or_update(target, "plan one")  # the marker is added when missing
    second = post_or_update(target, f"{MARKER}\nplan two")
    assert (first.action, second.action) == ("created", "updated")
    assert first.comment_id == second.comment_id
    assert first.url.endswith(f"#issuecomment-{first.comment_id}")
    assert [c["body"] for c in forge.comments] == ["first!", f"{MARKER}\nplan two"]


def test_gitlab_note_is_updated_in_place(forge):
    for i in range(101):
        forge.add(f"note {i}")
    target = detect_target(gitlab_env(forge))
    first = post_or_update(target, f"{MARKER}\nplan one")
    second = post_or_update(target, f"{MARKER}\nplan two")
    assert (first.action, second.action) == ("created", "updated")
    assert len(forge.comments) == 102 and forge.comments[-1]["body"].endswith("plan two")
    assert ("PUT", f"{GITLAB_LIST}/{first.comment_id}", TOKEN) in forge.requests
    assert all(auth == TOKEN for _, _, auth in forge.requests)


def test_refusals_name_the_fix_and_never_the_token(forge, tmp_path):
    forge.refuse.add("POST")
    with pytest.raises(CommentError) as info:
        post_or_update(detect_target(github_env(forge, tmp_path)), "plan")
    assert info.value.summary == "GitHub refused to post the plan comment: HTTP 403"
    assert "pull-requests: write" in info.value.detail
    assert "Resource not accessible by integration" in info.value.detail
    env = {**github_env(forge, tmp_path), "GITHUB_TOKEN": "wrong-token-value"}
    with pytest.raises(CommentError) as info:
        post_or_update(detect_target(env), "plan")
    assert "HTTP 401" in info.value.summary and "Bad credentials" in info.value.detail
    assert "wrong-token-value" not in str(info.value)


def test_a_next_link_to_another_host_is_not_followed(forge, tmp_path):
    for i in range(150):
        forge.add(f"c{i}")
    forge.next_link_host = "attacker.invalid"
    with pytest.raises(CommentError, match="another host"):
        post_or_update(detect_target(github_env(forge, tmp_path)), "plan")
    assert len(forge.requests) == 2  # GET /user, then the first page


def test_outside_a_pull_request_the_message_says_why(forge, tmp_path):
    with pytest.raises(CommentError, match="not for a pull request"):
        detect_target(github_env(forge, tmp_path, number=None))
    with pytest.raises(CommentError, match="not for a merge request"):
        detect_target({**gitlab_env(forge), "CI_MERGE_REQUEST_IID": ""})
    with pytest.raises(CommentError, match="FLASK_S3_GITLAB_TOKEN"):
        detect_target({**gitlab_env(forge), "FLASK_S3_GITLAB_TOKEN": ""})
    with pytest.raises(CommentError, match="not running in GitHub Actions or GitLab CI"):
        detect_target({})


def test_cli_posts_the_file_and_reports_errors_cleanly(forge, tmp_path, monkeypatch):
    plan = tmp_path / "plan.md"
    plan.write_text(f"{MARKER}\n### flask-s3: Plan: 1 to upload.\n")
    for name, value in github_env(forge, tmp_path).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["comment", str(plan)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Created the plan comment: https://github.example/")
    assert forge.comments[-1]["body"] == plan.read_text()
    forge.refuse.add("PATCH")
    result = CliRunner().invoke(main, ["comment", str(plan)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "refused to update the plan comment: HTTP 403" in result.output
    assert TOKEN not in result.output


def test_parse_links():
    header = '<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"'
    assert parse_links(header) == {"next": "https://a/x?page=2", "last": "https://a/x?page=9"}
    assert parse_links("") == {}


# -- issue 22: tokens stay on the API host; comments are ours by marker and author ----------


@dataclass
class Elsewhere:
    """Another host (a second loopback server): records every request and its credentials."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, credential
    port: int = 0


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    state = Elsewhere()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def handle_any(self) -> None:
            credential = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN")
            state.seen.append((self.command, self.path, credential or ""))
            raw = b"[]" if self.command == "GET" else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_PUT = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def run_comment(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    plan = tmp_path / "plan.md"
    plan.write_text(f"{MARKER}\n### flask-s3: Plan: 1 to upload.\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["comment", str(plan)])


@pytest.mark.parametrize("platform", ["github", "gitlab"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_is_refused_and_the_token_never_reaches_the_other_host(
    forge, elsewhere, tmp_path, monkeypatch, platform, method
):
    forge.redirect[method] = f"http://127.0.0.1:{elsewhere.port}/steal?x=1"
    env = github_env(forge, tmp_path) if platform == "github" else gitlab_env(forge)
    result = run_comment(env, tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    assert f"redirected the request to 127.0.0.1:{elsewhere.port}" in result.output
    assert "Traceback" not in result.output and "Created" not in result.output
    assert elsewhere.seen == []  # not even a request without the token
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    "answer", [(200, {}), (201, {"message": "ok"}), (202, []), (200, {"id": ""})]
)
def test_a_post_without_the_new_comment_id_is_an_error(forge, tmp_path, monkeypatch, answer):
    forge.answers["POST"] = answer
    result = run_comment(github_env(forge, tmp_path), tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    assert "did not answer the post of the plan comment with its id" in result.output
    assert "Created" not in result.output


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_comment_with_our_marker_by_someone_else_is_never_edited(
    forge, tmp_path, monkeypatch, platform
):
    forged = forge.add(f"{MARKER}\nforged plan: all good, merge it", author="mallory")
    env = github_env(forge, tmp_path) if platform == "github" else gitlab_env(forge)
    first = run_comment(env, tmp_path, monkeypatch)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Created the plan comment")
    assert forged["body"] == f"{MARKER}\nforged plan: all good, merge it"
    ours = forge.comments[-1]
    assert ours is not forged and ours["body"].endswith("Plan: 1 to upload.\n")
    second = run_comment(env, tmp_path, monkeypatch)
    assert second.output.startswith("Updated the plan comment"), second.output
    assert len(forge.comments) == 2 and forged["body"].startswith(f"{MARKER}\nforged plan")
    edits = [(m, p) for m, p, _ in forge.requests if m in ("PATCH", "PUT")]
    assert edits and all(p.endswith(f"/{ours['id']}") for _, p in edits)


def test_with_a_workflow_token_our_comments_are_github_actions_bot_s(forge, tmp_path, monkeypatch):
    forge.user_status = 403  # GITHUB_TOKEN may not read GET /user
    forged = forge.add(f"{MARKER}\nforged", author="mallory")
    ours = forge.add(f"{MARKER}\nold plan", author="github-actions[bot]")
    result = run_comment(github_env(forge, tmp_path), tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Updated the plan comment")
    assert ours["body"].endswith("Plan: 1 to upload.\n") and forged["body"].endswith("forged")
