"""`scripts/build-widget`: the committed static/widget/widget.js and cobrowse.js are a fresh
build of static/widget/src (and of the functions copied from static/common/), each is one
strict-mode IIFE with no import/export, and running it defines no global on the page but
the widget's own `ChatWidget` (checked with node when it is installed)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
NODE = "/usr/bin/node"


def build_script() -> ModuleType:
    """scripts/build-widget, imported (it has no .py suffix)."""
    path = ROOT / "scripts" / "build-widget"
    loader = importlib.machinery.SourceFileLoader("build_widget", str(path))
    spec = importlib.util.spec_from_loader("build_widget", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_widget"] = module  # its dataclass looks itself up there
    loader.exec_module(module)
    return module


BUILD = build_script()
FRESH: dict[Path, str] = BUILD.build(ROOT)


def test_the_committed_files_are_a_fresh_build() -> None:
    assert sorted(str(p) for p in FRESH) == [
        "static/widget/cobrowse.js",
        "static/widget/widget.js",
    ]
    for path, text in FRESH.items():
        committed = (ROOT / path).read_text(encoding="utf-8")
        assert committed == text, f"{path} is not a fresh build: run scripts/build-widget"


def test_every_source_is_built_in() -> None:
    """A file in src/ that no list names would silently be left out of the widget."""
    listed = {p for p in BUILD.WIDGET + BUILD.COBROWSE if isinstance(p, str)}
    on_disk = {str(p.relative_to(ROOT / BUILD.SRC)) for p in (ROOT / BUILD.SRC).rglob("*.js")}
    assert on_disk == listed


@pytest.mark.parametrize("path", sorted(FRESH), ids=str)
def test_one_strict_iife_without_modules(path: Path) -> None:
    text = FRESH[path]
    header, _, code = text.partition("*/\n")
    assert "built from static/widget/src by scripts/build-widget: edit the sources" in header
    assert code.startswith("(function () {\n'use strict';\n")
    assert code.endswith("\n})();\n")
    # the sources are plain code sharing the function's scope: no module syntax (whatever
    # they declare stays inside; test_running_it_defines_no_page_global checks that too)
    assert not re.search(r"^\s*(import|export)\b", code, re.MULTILINE)
    assert not re.search(r"\bimport\s*\(", code)


def test_the_copied_functions_are_the_pages_text() -> None:
    """h(), randomId() and backoffDelay() are the console's own, not copies that drift."""
    widget = FRESH[Path("static/widget/widget.js")]
    for part in BUILD.WIDGET:
        if isinstance(part, str):
            continue
        source = (ROOT / part.path).read_text(encoding="utf-8")
        for name in part.names:
            copied = BUILD.common_function(source, name, part.path)
            assert copied in widget
            assert f"function {name}(" in copied
            assert widget.count(f"function {name}(") == 1


def test_a_missing_common_function_fails_the_build() -> None:
    with pytest.raises(BUILD.BuildError, match="no `function nothere\\("):
        BUILD.common_function("  function h() {\n  }\n", "nothere", "static/common/x.js")


# Runs a built file in a fresh V8 context whose `window` is that context's global object,
# with a document whose currentScript is a widget tag (or none for the co-browse part), and
# lists the globals it added. Timers and sockets are stubs: only the first run matters.
DEFINES = r"""
const vm = require('vm');
const fs = require('fs');
const [file, site] = process.argv.slice(1);  // node -e CODE FILE SITE
const el = () => ({
  setAttribute() {}, append() {}, addEventListener() {}, attachShadow() { return el(); },
  classList: { add() {}, remove() {}, toggle() {} }, style: { setProperty() {} }, dataset: {},
  querySelector: () => null, querySelectorAll: () => [], replaceChildren() {}, focus() {},
  appendChild() {}, remove() {},
});
const script = site ? { src: 'https://chat.example/widget.js',
  getAttribute: (name) => (name === 'data-site' ? site : null) } : null;
const sandbox = {
  document: Object.assign(el(), { currentScript: script, body: null, readyState: 'loading',
    documentElement: el(), createElement: el, createElementNS: el, title: '', referrer: '',
    createDocumentFragment: el, createTextNode: el }),
  location: { href: 'https://shop.example/', protocol: 'https:' }, navigator: { languages: [] },
  setTimeout: () => 0, clearTimeout() {}, setInterval: () => 0, clearInterval() {},
  localStorage: { getItem: () => null }, sessionStorage: { getItem: () => null },
  TextEncoder, TextDecoder, URL, console,
};
sandbox.window = sandbox;
sandbox.addEventListener = () => {};
const before = new Set(Object.getOwnPropertyNames(sandbox));
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(file, 'utf8'), sandbox, { filename: file });
console.log(JSON.stringify(Object.getOwnPropertyNames(sandbox).filter((k) => !before.has(k))));
"""


@pytest.mark.parametrize(
    ("path", "site", "defined"),
    [
        ("static/widget/widget.js", "demo", ["ChatWidget"]),
        ("static/widget/widget.js", "", []),
        ("static/widget/cobrowse.js", "", []),
    ],
)
def test_running_it_defines_no_page_global(path: str, site: str, defined: list[str]) -> None:
    node = require_tool(NODE, "apt-get install nodejs")
    checked = subprocess.run(
        [node, "--check", str(ROOT / path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
    ran = subprocess.run(
        [node, "-e", DEFINES, str(ROOT / path), site],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == defined
