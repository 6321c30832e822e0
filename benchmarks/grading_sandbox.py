"""make bench: what the kernel sandbox adds to grading time per student (target: at most 20%).

Grades one student who solved every exercise (the solutions' code in the released exercises), in
a fresh process, with the sandbox (bubblewrap) and then without it (--unsafe), ``--repeats`` times
alternately; prints the median of the student's grading time (both runs of every notebook, as
the console reports it) with and without the sandbox, and the overhead.

Usage: python benchmarks/grading_sandbox.py [--repeats N] [--exercise NAME ...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_grading import NAMES, solution_code, submit

MAX_OVERHEAD = 0.20
SECONDS = re.compile(r"/\S+\s+(\d+\.\d) s ")


def grade_once(submissions: Path, out: Path, *, sandbox: bool) -> float:
    """The student's grading time in one `python -m grading.grade` run: the sum of the seconds
    its console lines give (both runs of each notebook; not the course set-up, done once)."""
    command = [sys.executable, "-m", "grading.grade", str(submissions), "--out", str(out)]
    command += [] if sandbox else ["--unsafe"]
    run = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return sum(float(seconds) for seconds in SECONDS.findall(run.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exercise", action="append", help="default: every exercise")
    args = parser.parse_args()
    exercises = args.exercise or NAMES
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        submissions = Path(folder) / "submissions"
        for name in exercises:
            submit(submissions, "full", name, code=solution_code(name))
        for repeat in range(args.repeats):
            for sandbox in (True, False):
                out = Path(folder) / f"out-{repeat}-{sandbox}" / "grades.csv"
                times[sandbox].append(grade_once(submissions, out, sandbox=sandbox))
    sandboxed, unsafe = statistics.median(times[True]), statistics.median(times[False])
    overhead = sandboxed / unsafe - 1
    print(f"grading one student, {len(exercises)} exercise(s), median of {args.repeats}:")
    print(f"  sandboxed {sandboxed:6.1f} s   {', '.join(f'{t:.1f}' for t in times[True])}")
    print(f"  unsafe    {unsafe:6.1f} s   {', '.join(f'{t:.1f}' for t in times[False])}")
    verdict = "met" if overhead <= MAX_OVERHEAD else "MISSED"
    print(f"  sandbox overhead {overhead:+.1%} (target <= {MAX_OVERHEAD:.0%}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
