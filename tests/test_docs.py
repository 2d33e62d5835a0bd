"""The documentation: every reference entry is described, and every example in it runs.

Code blocks in ``docs/*.md`` follow one convention, checked here:

- ``sh`` blocks run with bash in a fresh folder per page (exit 0 unless ``% exit: N``),
  ``python`` blocks run in one namespace per page, ``pycon`` blocks run as doctests.
- A block with ``:caption: some/path`` (any language) is a file the reader writes: it is
  written there, not run.
- ``% files from: quickstart.md`` on a page writes that page's files first (a page that
  continues the Quickstart's shop).
- MyST comments on the lines just before a block steer it: ``% not run: <reason>`` skips it
  (a reason is required), ``% exit: N`` expects that exit code, ``% cwd: checkout`` runs it
  in the repository (``make demo``), and ``% output`` before a ``text`` block checks that its
  lines (``...`` matches anything) appear, in order, in the previous ``sh`` block's output.
  ``% serve: /PATH`` runs an ``sh`` block that serves the app (``flask run``) on a free port
  (``FLASK_RUN_PORT``), fetches PATH, then every asset URL the page links (``href``/``src``):
  each must answer 200 from the local S3 (``FLASK_S3_ENDPOINT_URL``); then stops the server.
- Shell or Python written any other way (``console``, ``bash``, ``$ `` prompts in ``text``)
  fails, so an example cannot escape the test by its spelling.

Pages run against the session's SeaweedFS, in the environment the Quickstart's local-S3 step
gives a reader: the ``export`` lines ``flask-s3 local-s3`` prints for this server
(``shell_settings``), with the server's own access key.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import flask_s3_docs  # noqa: E402

from flask_s3.cli import main  # noqa: E402

PAGES = sorted(p for p in DOCS.glob("*.md"))
RUN = {"sh", "python", "pycon"}
NOT_CODE = {
    "yaml",
    "html",
    "html+jinja",
    "jinja",
    "json",
    "text",
    "ini",
    "toml",
    "css",
    "javascript",
}
DISGUISED = {"bash", "shell", "console", "shell-session", "zsh", "py", "python3", "ipython"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(.*)$")
DIRECTIVE = re.compile(r"^\{(code-block|code|sourcecode)\}\s*(\S*)")


# --- references: nothing undescribed -------------------------------------------------------


@pytest.mark.parametrize("schema", ["schemas/deploy.schema.json", "schemas/plan.schema.json"])
def test_every_schema_field_has_a_description(schema):
    fields = flask_s3_docs.schema_fields(flask_s3_docs.load_schema(schema))
    assert len(fields) > 20
    undescribed = [f.dotted for f in fields if not f.description]
    assert not undescribed, f"{schema}: give these a description: {undescribed}"


def test_every_deploy_spec_field_has_an_example():
    schema = flask_s3_docs.load_schema("schemas/deploy.schema.json")
    example = yaml.safe_load((ROOT / "deploy.example.yaml").read_text())
    missing = [
        f.dotted
        for f in flask_s3_docs.schema_fields(schema)
        if not f.schema.get("properties")
        and flask_s3_docs.example_value(f, example) is flask_s3_docs.MISSING
    ]
    assert not missing, f"add `examples` to these fields of the schema: {missing}"


def cli_commands(group: click.Group, path: str = "flask-s3") -> Iterator[tuple[str, click.Command]]:
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from cli_commands(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def undescribed_cli_items(group: click.Group) -> list[str]:
    undescribed = []
    for path, command in cli_commands(group, group.name or "flask-s3"):
        ctx = click.Context(command, info_name=path)
        text = command.help or ""
        if not text.strip():
            undescribed.append(path)
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and not (param.help or "").strip():
                undescribed.append(f"{path} {param.opts[0]}")
            if isinstance(param, click.Argument):
                metavar = param.metavar or (param.name or "").upper()
                if not re.search(rf"\b{re.escape(metavar)}\b", text):
                    undescribed.append(f"{path} {metavar} (name it in the command's docstring)")
    return undescribed


def test_every_cli_command_option_and_argument_is_described():
    assert len(list(cli_commands(main))) >= 6
    assert not undescribed_cli_items(main), "describe these"


def test_the_cli_check_finds_what_is_undescribed():
    @click.group(name="tool", help="A tool.")
    def tool() -> None:
        pass

    @tool.command(help="Copy SRC somewhere.")
    @click.argument("src", metavar="SRC")
    @click.argument("dest", metavar="DEST")
    @click.option("--fast", is_flag=True)
    @click.option("--slow", is_flag=True, help="Take time.")
    def copy(src: str, dest: str, fast: bool, slow: bool) -> None:
        pass

    @tool.command()
    def quiet() -> None:
        pass

    found = undescribed_cli_items(tool)
    assert found == [
        "tool copy DEST (name it in the command's docstring)",
        "tool copy --fast",
        "tool quiet",
    ]


def test_the_schema_check_finds_a_field_without_description():
    schema = {
        "$defs": {"h": {"type": "object"}},
        "properties": {
            "a": {"type": "object", "description": "A.", "properties": {"b": {"type": "string"}}},
            "c": {"type": "array", "description": "C.", "items": {"$ref": "#/$defs/h"}},
            "d": {"$ref": "#/$defs/h", "description": "D."},
        },
    }
    fields = flask_s3_docs.schema_fields(schema)
    assert [f.dotted for f in fields if not f.description] == ["a.b"]
    assert [f.dotted for f in fields] == ["a", "a.b", "c", "d"]


def test_every_config_key_has_a_description_and_the_pages_render_the_registry():
    from flask_s3.config import CONFIG_KEYS

    assert not [k.name for k in CONFIG_KEYS if not str(k.description).strip()]
    assert ".. flask-s3-config-keys::" in (DOCS / "reference" / "config.rst").read_text()
    assert "{flask-s3-old-config-keys}" in (DOCS / "migrating.md").read_text()


def _error_messages() -> Iterator[tuple[str, str, re.Pattern[str]]]:
    """(where, template, pattern) of every error message flask_s3 makes.

    A message is the first argument of a call to one of our error types; an f-string's
    placeholders match any text, so the page can show ``bucket 'NAME' does not exist``.
    The S3 error codes that get their own fix (a ``*FIXES`` dict) must be named too.
    """
    from flask_s3 import errors

    ours = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.FlaskS3Error)
    }
    for path in sorted((ROOT / "flask_s3").rglob("*.py")):
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if name not in ours or not isinstance(first, (ast.Constant, ast.JoinedStr)):
                    continue
                parts = first.values if isinstance(first, ast.JoinedStr) else [first]
                template = "".join(
                    str(p.value) if isinstance(p, ast.Constant) else "{...}" for p in parts
                )
                pattern = ".+?".join(re.escape(t) for t in template.split("{...}"))
                yield f"{where}:{node.lineno}", template, re.compile(pattern)
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id.endswith("FIXES") for t in node.targets
            ):
                for key in getattr(node.value, "keys", []):
                    if isinstance(key, ast.Constant):
                        code = str(key.value)
                        yield f"{where}:{key.lineno}", code, re.compile(re.escape(code))


def test_troubleshooting_names_every_error_message():
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    messages = list(_error_messages())
    assert len(messages) > 30
    missing = [f"{where}: {text}" for where, text, pattern in messages if not pattern.search(page)]
    assert not missing, "add these messages to docs/troubleshooting.md:\n" + "\n".join(missing)


# --- snippets: every example runs -----------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int
    language: str
    text: str
    caption: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


class DocsError(Exception):
    pass


def parse_blocks(text: str, page: str) -> list[Block]:
    """Code blocks of a MyST page, with their caption and the ``%`` notes just above them."""
    lines = text.splitlines()
    blocks: list[Block] = []
    notes: dict[str, str] = {}
    containers: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = FENCE.match(line)
        if containers and line.strip() == containers[-1]:
            containers.pop()
            i += 1
            continue
        if match is None:
            comment = re.match(r"^\s*%\s*([\w -]+?)\s*(?::\s*(.*))?$", line)
            if comment:
                notes[comment.group(1).strip()] = (comment.group(2) or "").strip()
            elif line.strip():
                notes = {}
            i += 1
            continue
        fence, info = match.group(2), match.group(3).strip()
        directive = DIRECTIVE.match(info)
        if info.startswith("{") and directive is None:  # {note}, {tip}...: look inside
            containers.append(fence)
            notes = {}
            i += 1
            continue
        language = (directive.group(2) if directive else info.split()[0] if info else "").lower()
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        body = lines[i + 1 : end]
        caption = None
        if directive:
            while body and body[0].startswith(":"):
                option, _, value = body.pop(0)[1:].partition(":")
                if option.strip() == "caption":
                    caption = value.strip()
            while body and not body[0].strip():
                body.pop(0)
        blocks.append(Block(page, i + 1, language, "\n".join(body) + "\n", caption, notes))
        notes = {}
        i = end + 1
    return blocks


def check_spelling(block: Block) -> None:
    """Refuse examples that would slip past the runner by how they are written."""
    if "not run" in block.notes and not block.notes["not run"]:
        raise DocsError(f"{block.where}: `% not run:` needs a reason")
    unknown = set(block.notes) - {"not run", "exit", "cwd", "output", "files from", "serve"}
    if unknown:
        raise DocsError(f"{block.where}: unknown note(s) {sorted(unknown)}")
    if block.caption:
        return
    if block.language in DISGUISED or (
        block.language in ("", "text")
        and "output" not in block.notes
        and re.search(r"^\s*(\$ |>>> |flask-s3 |pip |make )", block.text, re.M)
    ):
        raise DocsError(
            f"{block.where}: write shell as `sh` and Python as `python`/`pycon` so the block "
            "runs, or mark it `% not run: <reason>`"
        )
    if block.language not in RUN | NOT_CODE:
        raise DocsError(f"{block.where}: unknown code block language {block.language!r}")


def expect_output(block: Block, output: str) -> None:
    """Each line of the block appears in the output, in order; ``...`` matches anything."""
    position = 0
    for line in block.text.splitlines():
        if not line.strip():
            continue
        pattern = ".*?".join(re.escape(part.strip()) for part in line.strip().split("..."))
        found = re.compile(pattern).search(output, position)
        position_line = output.count("\n", 0, position) + 1
        if found is None:
            raise DocsError(
                f"{block.where}: expected {line.strip()!r} (after line {position_line}) "
                f"in the output:\n{output}"
            )
        position = found.end()


@dataclass
class PageRun:
    """Runs the blocks of one page in order, in its own folder."""

    workdir: Path
    env: dict[str, str]
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__docs__"})
    last_output: str | None = None

    def run(self, block: Block) -> None:
        check_spelling(block)
        if block.caption:
            target = self.workdir / block.caption
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        elif "not run" in block.notes:
            pass
        elif "output" in block.notes:
            if self.last_output is None:
                raise DocsError(f"{block.where}: `% output` follows no `sh` block")
            expect_output(block, self.last_output)
        elif block.language == "sh" and "serve" in block.notes:
            self.serve(block)
        elif block.language == "sh":
            self.shell(block)
        elif block.language == "python":
            self.python(block)
        elif block.language == "pycon":
            self.doctest(block)

    def shell(self, block: Block) -> None:
        cwd = ROOT if block.notes.get("cwd") == "checkout" else self.workdir
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.text],
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        self.last_output = result.stdout
        expected = int(block.notes.get("exit") or 0)
        if result.returncode != expected:
            raise DocsError(
                f"{block.where}: exit code {result.returncode}, expected {expected}\n"
                f"{block.text}\n{self.last_output}"
            )

    def serve(self, block: Block) -> None:
        """Serve the app as the block says, then fetch the page and every asset it links."""
        import socket
        import time
        import urllib.error
        import urllib.request
        from html.parser import HTMLParser

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**self.env, "FLASK_RUN_PORT": str(port), "FLASK_RUN_HOST": "127.0.0.1"}
        server = subprocess.Popen(
            ["bash", "-e", "-c", f"exec {block.text.strip()}"],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            page_url = f"http://127.0.0.1:{port}{block.notes['serve'] or '/'}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(page_url, timeout=5) as resp:
                        html = resp.read().decode()
                    break
                except (urllib.error.URLError, ConnectionError):
                    if server.poll() is not None or time.monotonic() > deadline:
                        message = f"{block.where}: the app did not serve {page_url}"
                        raise DocsError(message) from None
                    time.sleep(0.2)

            class Links(HTMLParser):
                def __init__(self) -> None:
                    super().__init__()
                    self.urls: list[str] = []

                def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                    self.urls += [v for k, v in attrs if k in ("href", "src") and v]

            links = Links()
            links.feed(html)
            endpoint = self.env["FLASK_S3_ENDPOINT_URL"]
            lines = []
            for url in links.urls:
                try:
                    with urllib.request.urlopen(url, timeout=10) as resp:
                        status = resp.status
                except urllib.error.HTTPError as err:
                    status = err.code
                lines.append(f"{status} {url}")
                if status != 200 or not url.startswith(endpoint + "/"):
                    raise DocsError(
                        f"{block.where}: {url} answered {status}; every asset must come from the "
                        f"local S3 ({endpoint})\n{html}"
                    )
            if not lines:
                raise DocsError(f"{block.where}: the page links no assets\n{html}")
            self.last_output = html + "\n" + "\n".join(lines) + "\n"
        finally:
            server.terminate()
            server.communicate(timeout=10)

    def python(self, block: Block) -> None:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.text, block.where, "exec"), self.namespace)
        except Exception as exc:
            raise DocsError(f"{block.where}: {type(exc).__name__}: {exc}\n{block.text}") from exc
        self.last_output = out.getvalue()

    def doctest(self, block: Block) -> None:
        test = doctest.DocTestParser().get_doctest(
            block.text, self.namespace, block.where, block.page, block.line
        )
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, out=report.write, clear_globs=False)
        if runner.failures:
            raise DocsError(f"{block.where}: doctest failed\n{report.getvalue()}")


def page_buckets(blocks: list[Block]) -> set[str]:
    """Buckets named by the spec files and app configs a page writes, removed before it runs."""
    names = set()
    for block in blocks:
        names.update(re.findall(r"BUCKET_NAME\"\]\s*=\s*\"([a-z0-9.-]+)\"", block.text))
        if block.caption and block.language == "yaml":
            data = yaml.safe_load(block.text)
            name = data.get("bucket", {}).get("name") if isinstance(data, dict) else None
            if isinstance(name, str):
                names.add(name)
    return names


def remove_bucket(client: Any, name: str) -> None:
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
        for page in pages:
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)
    except client.exceptions.NoSuchBucket:
        pass


def run_page(page: Path, workdir: Path, env: dict[str, str]) -> None:
    text = page.read_text(encoding="utf-8")
    blocks = parse_blocks(text, page.name)
    runner = PageRun(workdir, env)
    for other in re.findall(r"^% files from: (\S+)$", text, re.M):
        # "This page continues the Quickstart": its files, not its commands.
        source = page.parent / other
        for block in parse_blocks(source.read_text(encoding="utf-8"), other):
            if block.caption:
                runner.run(block)
    before = set(sys.modules)
    sys.path.insert(0, str(workdir))
    try:
        for block in blocks:
            runner.run(block)
    finally:
        sys.path.remove(str(workdir))
        for name in set(sys.modules) - before:
            module = sys.modules[name]
            paths = [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])]
            if any(str(p).startswith(str(workdir)) for p in paths):
                del sys.modules[name]


def local_s3_exports(server: Any) -> dict[str, str]:
    """The variables of the ``export`` lines ``flask-s3 local-s3`` prints for ``server``."""
    from flask_s3.tools.seaweedfs import shell_settings

    found = {}
    for line in shell_settings(server).splitlines():
        for word in line.removeprefix("export ").split():
            name, _, value = word.partition("=")
            found[name] = value
    return found


@pytest.fixture
def docs_env(s3_env, monkeypatch, tmp_path):
    for name, value in local_s3_exports(s3_env).items():
        if not name.startswith("AWS_"):  # the session's server checks its own key
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # A page's `boto3.client(...)` uses boto3's default session, which keeps the credentials it
    # first resolved: a test that ran earlier in this process under other keys would leave
    # them to the page (InvalidAccessKeyId). A reader's Python starts without one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    workdir = tmp_path / "page"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir, dict(os.environ)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_example_on_the_page_runs(page, docs_env, s3_client):
    workdir, env = docs_env
    text = page.read_text(encoding="utf-8")
    blocks = parse_blocks(text, page.name)
    for other in re.findall(r"^% files from: (\S+)$", text, re.M):
        blocks += parse_blocks((DOCS / other).read_text(encoding="utf-8"), other)
    for name in page_buckets(blocks):
        remove_bucket(s3_client, name)
    failure = None
    try:
        run_page(page, workdir, env)
    except DocsError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(failure, pytrace=False)


# --- the runner itself fails where it should ------------------------------------------------

BAD_PAGES = {
    "disguised shell": "```console\n$ flask-s3 plan deploy.yaml\n```\n",
    "prompt in text": "```text\nflask-s3 apply deploy.yaml\n```\n",
    "no reason": "% not run:\n```sh\nmake test\n```\n",
    "failing shell": "```sh\nfalse\n```\n",
    "wrong exit code": "% exit: 2\n```sh\nexit 1\n```\n",
    "failing python": "```python\nimport no_such_module_here\n```\n",
    "wrong doctest": "```pycon\n>>> 1 + 1\n3\n```\n",
    "missing output": "```sh\necho hello\n```\n% output\n```text\ngoodbye\n```\n",
    "unknown language": "```bsh\necho\n```\n",
}


@pytest.mark.parametrize("text", BAD_PAGES.values(), ids=BAD_PAGES.keys())
def test_the_runner_fails_on_a_block_that_does_not_run(text, tmp_path):
    page = tmp_path / "bad.md"
    page.write_text("# Bad\n\n" + text)
    with pytest.raises(DocsError):
        run_page(page.resolve(), tmp_path, dict(os.environ))


def test_the_runner_writes_files_skips_marked_blocks_and_checks_output(tmp_path, monkeypatch):
    page = tmp_path / "good.md"
    page.write_text(
        "# Good\n\n"
        "```{code-block} python\n:caption: pkg/hello.py\n\nGREETING = 'hi'\n```\n\n"
        "% not run: would fail\n```sh\nexit 3\n```\n\n"
        "```sh\ncat pkg/hello.py; echo done in 1.5 s\n```\n\n"
        "% output\n```text\nGREETING = 'hi'\ndone in ... s\n```\n\n"
        "```python\nfrom pkg.hello import GREETING\n```\n\n"
        "```pycon\n>>> GREETING * 2\n'hihi'\n```\n"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    run_page(page.resolve(), workdir, dict(os.environ))
    assert (workdir / "pkg" / "hello.py").read_text() == "GREETING = 'hi'\n"


# --- the README: a first screen whose examples are the tested ones -------------------------


def _code_lines(block: Block) -> set[str]:
    lines = set()
    for line in block.text.splitlines():
        code = line.split(" #", 1)[0].strip() if block.language in ("sh", "yaml") else line
        if code.strip():
            lines.add(code.strip())
    return lines


def test_readme_examples_are_lines_of_the_docs_examples():
    """The docs run each of those lines, or say why not (`% not run: REASON`)."""
    readme = parse_blocks((ROOT / "README.md").read_text(encoding="utf-8"), "README.md")
    tested: dict[str, set[str]] = {}
    for page in PAGES:
        for block in parse_blocks(page.read_text(encoding="utf-8"), page.name):
            tested.setdefault(block.language, set()).update(_code_lines(block))
    assert {b.language for b in readme} >= {"sh", "yaml", "python"}
    for block in readme:
        untested = _code_lines(block) - tested.get(block.language, set())
        assert not untested, f"{block.where}: not in any docs example: {sorted(untested)}"


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        if "://" not in link:
            assert (ROOT / link).exists(), link


# --- the built HTML: site navigation, the CLI examples, long lines --------------------------


@pytest.fixture(scope="module")
def built_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-html")
    sphinx = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html"]
    result = subprocess.run(
        [*sphinx, "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out / "html"


def _sidebar(html: str) -> str:
    start = html.index('class="sphinxsidebar"')
    return html[start : html.index("</div>\n    </div>", start)]


def test_every_page_has_the_whole_site_in_its_sidebar(built_html: Path):
    pages = sorted(built_html.glob("*.html")) + sorted(built_html.glob("reference/*.html"))
    skip = ("genindex", "search", "py-modindex", "404")
    documents = [p for p in pages if p.stem not in skip]
    assert len(documents) > 10
    for page in documents:
        sidebar = _sidebar(page.read_text(encoding="utf-8"))
        for target in ("quickstart.html", "troubleshooting.html", "reference/cli.html"):
            href = Path(os.path.relpath(built_html / target, page.parent)).as_posix()
            here = page == built_html / target
            assert here or f'href="{href}"' in sidebar, (page.name, target)


def test_the_cli_reference_lists_the_examples(built_html: Path):
    html = (built_html / "reference" / "cli.html").read_text(encoding="utf-8")
    items = re.findall(r"<li><p><code[^>]*>(.*?)</code>: ([^<]*)</p></li>", html)
    commands = [re.sub(r"<[^>]+>", "", code) for code, _ in items]
    assert "flask-s3 validate deploy.yaml" in commands
    listed = dict(zip(commands, [what for _, what in items], strict=True))
    assert listed["flask-s3 plan deploy.yaml"] == "show what would change"
    assert 'class="line"' not in html.split("flask-s3 plan deploy.yaml")[0][-2000:]


def test_long_lines_on_the_troubleshooting_page_wrap(built_html: Path):
    html = (built_html / "troubleshooting.html").read_text(encoding="utf-8")
    sheets = re.findall(r'<link rel="stylesheet"[^>]*href="([^"]+)"', html)
    ours = [s for s in sheets if "flask-s3.css" in s]
    assert ours, sheets
    css = (built_html / ours[0].split("?")[0]).read_text(encoding="utf-8")
    rule = re.search(r"div\.highlight pre\s*\{([^}]*)\}", css)
    assert rule and "white-space: pre-wrap" in rule.group(1)
    assert "(connection refused) while trying to connect; check bucket.endpoint_url" in html
