"""Run a benchmark with this tree's code and with a git revision's, taking turns.

    .venv/bin/python bench/_against.py REV [--rounds N] SCRIPT [ARGUMENTS...]
    .venv/bin/python bench/_against.py f945347 chat.py --parts 1,2

Not a benchmark itself (``make bench`` skips it). On a machine whose speed
drifts by half between runs minutes apart, a before/after is fair only when the
two take turns: this runs ``bench/<script>`` (with the arguments that follow it)
from a temporary worktree of REV and from this tree alternately, REV first in
every other round, ``N`` rounds (default 2), and prints each run's output under
a heading. Each run builds and drops its own world, as the script always does;
the revision must know the script and its arguments. ``bench/api.py`` has its
own ``--against``, which interleaves the two servers round by round within one
run (finer, for a script whose load is served by processes it starts).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0].startswith("-"):
        print("usage: bench/_against.py REV [--rounds N] SCRIPT [ARGUMENTS...]", file=sys.stderr)
        return 2
    revision, rest = argv[0], argv[1:]
    rounds = 2
    if rest[0] == "--rounds":
        rounds, rest = int(rest[1]), rest[2:]
    script, arguments = rest[0], rest[1:]
    tree = Path(tempfile.mkdtemp(prefix="steward-against-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), revision],
                   cwd=ROOT, check=True)  # fmt: skip
    try:
        sides = [("this tree", ROOT), (revision, tree)]
        for turn in range(rounds):
            for label, root in sides if turn % 2 else sides[::-1]:
                print(f"\n===== round {turn + 1}: {script} at {label}", flush=True)
                run = subprocess.run(
                    [sys.executable, str(root / "bench" / script), *arguments],
                    cwd=root,
                    env={**os.environ, "PYTHONPATH": str(root)},  # its processes: its code
                )
                if run.returncode:
                    print(f"===== {script} at {label} exited with {run.returncode}")
                    return run.returncode
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
