"""Inputs: what a file's name or a listing's bytes hold never ends a job with a traceback."""
import os

import pytest

from curation.annotate.inputs import discover, shown_path
from curation.core.errors import ConfigError


def test_a_name_that_is_not_utf8_is_shown_escaped_and_others_as_they_are(tmp_path):
    odd = tmp_path / os.fsdecode(b"clip\xff\xfe.mp4")
    odd.write_bytes(b"x")
    (tmp_path / "plain é.mp4").write_bytes(b"x")
    found = discover([str(tmp_path)])
    assert sorted(shown_path(p) for p in found) == sorted([f"{tmp_path}/clip\\xff\\xfe.mp4", f"{tmp_path}/plain é.mp4"])
    assert shown_path(f"{tmp_path}/plain é.mp4") == f"{tmp_path}/plain é.mp4"


def test_a_listing_that_is_not_utf8_is_one_config_error(tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_bytes(b"a.mp4\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="must be UTF-8 text"):
        discover([str(listing)])
