"""Every command takes the global flags (-q/--quiet, -v/--verbose, --log-level) before or after its name."""
import subprocess
import sys

import pytest

from curation.cli import build_parser

# A minimal valid command line for each command.
COMMANDS = {
    "annotate": ["annotate", "in.mp4", "-o", "out"],
    "sample": ["sample", "dir"],
    "models": ["models", "check"],
    "filter": ["filter", "ann", "-o", "out"],
    "report": ["report", "filtered"],
    "shard": ["shard", "filtered", "-o", "out"],
    "run": ["run", "in.mp4", "-o", "out"],
    "demo": ["demo"],
    "finetune": ["finetune", "--shards", "s", "--model", "m", "-o", "out"],
    "generate": ["generate", "--model", "m", "--image", "i.png", "-o", "o.mp4"],
}


def test_every_command_is_listed():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_global_flags_before_or_after_the_command(command):
    parser = build_parser()
    argv = COMMANDS[command]
    plain = parser.parse_args(argv)
    assert (plain.quiet, plain.verbose, plain.log_level) == (False, False, "WARNING")
    after = parser.parse_args([*argv, "-q", "-v", "--log-level", "INFO"])
    before = parser.parse_args(["-q", "-v", "--log-level", "INFO", *argv])
    for args in (after, before):
        assert (args.quiet, args.verbose, args.log_level) == (True, True, "INFO")


def test_quiet_filter_is_not_a_usage_error(tmp_path):
    """``curate filter -q`` on a folder that is not an annotate output fails on the input (one line), not
    on the flag."""
    out = subprocess.run([sys.executable, "-m", "curation.cli", "filter", str(tmp_path / "missing"), "-o",
                          str(tmp_path / "out"), "-q"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "unrecognized arguments" not in out.stderr and "usage:" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
