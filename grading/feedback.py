"""Feedback that never shows hidden tests: an nbgrader preprocessor for ``generate_feedback``.

nbgrader puts the full test cells (hidden parts included) back into every autograded notebook, and
its feedback shows them, twice: in the cell source, and in the traceback IPython prints when an
assert fails (the failing line with a few lines of context on each side). ``ScrubHiddenTests``
removes both before the HTML is written:

- the hidden region of each test cell (what nbgrader's ``ClearHiddenTests`` does at release time);
- the traceback of a failing test cell: a failure on a hidden line becomes a one-line "a hidden
  test failed" error; a failure on a visible line keeps its error message and the frames of the
  student's own code, with the test cell's frame rebuilt from the visible line alone;
- any output, in any cell, that contains a hidden line (a submission could print the solution
  notebook it found on disk): replaced by a notice.

It is registered in ``nbgrader_config.py`` (``GenerateFeedback.preprocessors``).
"""

from __future__ import annotations

import html
import re

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Integer, Unicode

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\[\d*\], line (\d+)")
HTML_TAG = re.compile(r"<[^>]+>")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes."""
    return ANSI_ESCAPE.sub("", text)


def hidden_line_numbers(source: str, begin: str, end: str) -> set[int]:
    """1-based numbers of the lines inside (and on) the hidden-test markers of a cell."""
    hidden, inside = set(), False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            inside = True
        if inside:
            hidden.add(number)
        if end in line:
            inside = False
    return hidden


def hidden_lines(source: str, begin: str, end: str) -> list[str]:
    """The stripped, non-empty lines between the hidden-test markers of a cell."""
    lines = source.split("\n")
    numbers = hidden_line_numbers(source, begin, end)
    return [
        lines[n - 1].strip()
        for n in sorted(numbers)
        if lines[n - 1].strip() and begin not in lines[n - 1] and end not in lines[n - 1]
    ]


def output_text(output: NotebookNode) -> str:
    """Every string an output shows (stream text, error, rich data), colour codes removed."""
    if output.output_type == "stream":
        text = output.get("text", "")
    elif output.output_type == "error":
        text = "\n".join([output.get("evalue", ""), *output.get("traceback", [])])
    else:
        text = "\n".join(
            _as_text(mime, value if isinstance(value, str) else "".join(value))
            for mime, value in output.get("data", {}).items()
            if isinstance(value, (str, list))
        )
    return strip_ansi(text)


def _as_text(mime: str, value: str) -> str:
    """Rich output as the reader sees it: HTML without tags and entities."""
    return html.unescape(HTML_TAG.sub("", value)) if mime == "text/html" else value


class ScrubHiddenTests(ClearHiddenTests):
    """Remove hidden tests from test cells, their tracebacks and every output that shows them."""

    hidden_failure = Unicode(
        "{ename} in a hidden test. Hidden tests compare your results exactly with a "
        "recomputation on the full data; the visible tests of this cell passed.",
        help="Shown instead of the traceback when an assert in a hidden test fails.",
    ).tag(config=True)

    leaked_output = Unicode(
        "[output removed from the feedback: it showed hidden test code]",
        help="Shown instead of an output that contains a line of a hidden test.",
    ).tag(config=True)

    min_line_length = Integer(
        8,
        help="Hidden lines shorter than this (e.g. a closing bracket) are too common to search "
        "outputs for; they are still removed from the test cells.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._hidden = {
            line
            for cell in nb.cells
            for line in hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
            if len(line) >= self.min_line_length
        }
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        hidden_numbers = hidden_line_numbers(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        original_lines = cell.source.split("\n")
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code":
            if hidden_numbers:
                cell.outputs = [
                    self._scrub_test_error(output, hidden_numbers, original_lines) for output in cell.outputs
                ]
            cell.outputs = [self._scrub_leak(output) for output in cell.outputs]
        return cell, resources

    def _scrub_test_error(self, output, hidden_numbers, lines):
        """A test cell's error without the hidden lines IPython prints around the failing line."""
        if output.output_type != "error":
            return output
        frames = [strip_ansi(entry) for entry in output.get("traceback", [])]
        cell_frame = next((i for i, f in enumerate(frames) if CELL_FRAME.search(f)), None)
        if cell_frame is None:
            return output  # no frame of this cell (e.g. a timeout): the leak check still applies
        failing = int(CELL_FRAME.search(frames[cell_frame]).group(1))
        if failing in hidden_numbers:
            return _error(output.ename, "", [self.hidden_failure.format(ename=output.ename)])
        visible_frame = f"Test cell, line {failing}:\n----> {lines[failing - 1].strip()}"
        kept = [visible_frame, *frames[cell_frame + 1 :]]
        return _error(output.ename, output.get("evalue", ""), kept)

    def _scrub_leak(self, output):
        """The output, or a notice if it shows any hidden test line."""
        text = output_text(output)
        if any(line in text for line in self._hidden):
            return NotebookNode(output_type="stream", name="stderr", text=self.leaked_output)
        return output


def _error(ename: str, evalue: str, traceback: list[str]) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=traceback)
