"""The course as a learner sees it: JupyterLab serving notebooks/, opened in a real browser.

Debian's chromium, headless, driven by Playwright (`executable_path`: nothing downloads a browser).
The lab runs with `make lab`'s configuration (lab/learner: no nbgrader tools; lab/overrides.json,
installed by `make install`: no news prompt). Every notebook of notebooks/ opens with no error
dialog, every ```mermaid block of its Markdown renders as an SVG picture, not as a code block, and
every image (outputs and Markdown) loads. A fixture notebook with a broken diagram and broken
images shows that the checks catch them. Skipped where /usr/bin/chromium is missing (`.ci/run`
installs it).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CHROMIUM = Path("/usr/bin/chromium")
LAB_SETTINGS = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.d/skewcheck-course.json"
STARTUP_SECONDS = 90
RENDER_MS = 60_000  # a page, its diagrams and its images, on a loaded 2-core machine
NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
MERMAID_FENCE = "```mermaid"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

FIXTURE_CELLS = [
    nbformat.v4.new_markdown_cell("```mermaid\nflowchart LR\n  source --> store\n```"),
    nbformat.v4.new_markdown_cell("```mermaid\nflowchart LR\n  source --> -->\n```"),
    nbformat.v4.new_markdown_cell("![a figure that is not there](no_such_figure.png)"),
    nbformat.v4.new_code_cell(
        "plot()",
        outputs=[nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0Kbroken"})],
    ),
]


def fixture_notebook() -> nbformat.NotebookNode:
    """A notebook with one good diagram, one broken diagram and two broken images."""
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nbformat.v4.new_notebook(cells=FIXTURE_CELLS, metadata={"kernelspec": kernel})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A learner's JupyterLab serving notebooks/ and a fixture folder; yields (base URL, token)."""
    assert LAB_SETTINGS.is_file(), f"{LAB_SETTINGS} is missing: run `make install`"
    home = tmp_path_factory.mktemp("lab")
    served = home / "served"
    served.mkdir()
    (served / "notebooks").symlink_to(ROOT / "notebooks")
    (served / "fixture").mkdir()
    nbformat.write(fixture_notebook(), served / "fixture" / "broken.ipynb")
    # Every cell rendered, not only those in view, so that every diagram and image can be checked.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(ROOT / "lab" / "learner"),  # as `make lab` runs it
        "JUPYTER_CONFIG_DIR": str(home / "config"),  # not the user's own ~/.jupyter
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={served}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start in time"
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()
    base, token = lab
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}") as response:
        sessions = json.load(response)
    for session in sessions:  # opening a notebook starts a kernel: stop it
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request).close()


def expected_in(notebook: nbformat.NotebookNode) -> tuple[int, int]:
    """The mermaid blocks of a notebook's Markdown, and its image outputs."""
    diagrams = sum(cell.source.count(MERMAID_FENCE) for cell in notebook.cells if cell.cell_type == "markdown")
    images = sum(
        any(mime in output.get("data", {}) for mime in IMAGE_MIME_TYPES)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    return diagrams, images


RENDERED = """([cells, diagrams, outputImages]) => {
    const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
    if (!notebook || notebook.querySelectorAll('.jp-Cell').length < cells) return false;
    const pictures = notebook.querySelectorAll('.jp-RenderedMermaid');
    const images = Array.from(notebook.querySelectorAll('img'));
    return pictures.length >= diagrams
        && notebook.querySelectorAll('.jp-OutputArea-output img').length >= outputImages
        && images.every(image => image.complete);
}"""

FINDINGS = """() => {
    const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
    const isSvg = image => image.src.startsWith('data:image/svg+xml')
        && image.complete && image.naturalWidth > 0;
    return {
        dialogs: Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText),
        diagrams: Array.from(notebook.querySelectorAll('.jp-RenderedMermaid')).map(diagram => {
            const image = diagram.querySelector('figure img');
            return diagram.classList.contains('jp-mod-warning') || !image || !isSvg(image)
                ? diagram.innerText.slice(0, 200) : null;
        }),
        codeBlocks: notebook.querySelectorAll('.jp-RenderedMarkdown code.language-mermaid').length,
        brokenImages: Array.from(notebook.querySelectorAll('img'))
            .filter(image => !(image.complete && image.naturalWidth > 0))
            .map(image => image.getAttribute('src').slice(0, 60)),
        text: document.body.innerText,
    };
}"""


def problems_of(page: Page, lab: tuple[str, str], path: str, notebook) -> list[str]:
    """Open a notebook in the lab; return what a learner would see go wrong, one line each."""
    base, token = lab
    page.goto(f"{base}/lab/tree/{path}?reset&token={token}")
    diagrams, output_images = expected_in(notebook)
    page.wait_for_function(RENDERED, arg=[len(notebook.cells), diagrams, output_images], timeout=RENDER_MS, polling=250)
    found = page.evaluate(FINDINGS)
    problems = [f"{path}: error dialog: {text[:200]!r}" for text in found["dialogs"]]
    problems += [
        f"{path}: mermaid block not rendered as SVG: {text!r}" for text in found["diagrams"] if text is not None
    ]
    if found["codeBlocks"]:
        problems.append(f"{path}: {found['codeBlocks']} mermaid block(s) shown as code")
    problems += [f"{path}: image does not load: {src!r}" for src in found["brokenImages"]]
    if NEWS_PROMPT in found["text"]:
        problems.append(f"{path}: the Jupyter news prompt is shown")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_each_notebook_opens_with_its_diagrams_and_images(page, lab, path):
    notebook = nbformat.read(path, as_version=4)
    assert problems_of(page, lab, f"notebooks/{path.name}", notebook) == []


def test_the_checks_catch_a_broken_diagram_and_broken_images(page, lab):
    problems = problems_of(page, lab, "fixture/broken.ipynb", fixture_notebook())
    assert len(problems) == 3, problems  # the good diagram is not among them
    assert "mermaid block not rendered as SVG" in problems[0] and "--> -->" in problems[0]
    assert "image does not load" in problems[1] and "no_such_figure.png" in problems[1]
    assert "image does not load" in problems[2] and "data:image/png" in problems[2]


def test_the_learner_lab_has_no_nbgrader_tools_and_no_news_prompt(page, lab):
    base, token = lab
    page.goto(f"{base}/lab?reset&token={token}")
    page.locator("#jp-MainMenu").wait_for(timeout=RENDER_MS)
    page.wait_for_timeout(3_000)  # the news prompt, where enabled, shows right after start-up
    menus = page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").all_inner_texts()
    assert "File" in menus and "Nbgrader" not in menus, menus
    assert page.get_by_text(NEWS_PROMPT).count() == 0
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"{base}/formgrader?token={token}")
