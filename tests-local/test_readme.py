"""README.md: every link to a file points inside the repository, at a file that exists."""

from __future__ import annotations

import re
from urllib.parse import unquote

from support import ROOT

# [text](target) and [label]: target
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$", re.MULTILINE)


def test_links_to_files_stay_inside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [inline or reference for inline, reference in LINK.findall(readme)]
    assert targets  # the pattern still finds the links
    for target in targets:
        if re.match(r"(https?|mailto):", target) or target.startswith("#"):
            continue
        assert not re.match(r"[a-z][a-z0-9+.-]*:", target), f"{target}: not a web link"
        path = (ROOT / unquote(target.split("#")[0])).resolve()
        assert path.is_relative_to(ROOT), f"{target} points outside the repository"
        assert path.exists(), f"{target} does not exist"
