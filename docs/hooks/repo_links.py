"""mkdocs hook: links from a docs page to a repository file outside docs/ (``../examples/x``).

Such links work where the Markdown is read in the repository. The site does not hold those
files, so mkdocs would report them as broken. This hook checks that each target exists in the
repository (a missing one is a warning, which fails ``mkdocs build --strict``) and points the
link at ``<repo_url>/blob/main/<path>`` when mkdocs.yml sets ``repo_url``; without it the link
is shown as its text.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.repo_links")
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    page_dir = posixpath.dirname(page.file.src_uri)
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match[str]) -> str:
        target = posixpath.normpath(posixpath.join("docs", page_dir, match["target"]))
        path = (root / target).resolve()
        if target.startswith("docs/") or target.startswith(".."):
            return match.group(0)  # inside the site (mkdocs checks it) or outside the repo
        if not path.exists():
            log.warning("%s links to %s, which is not in the repository", page.file.src_uri, target)
            return match.group(0)
        if repo_url:
            return f"[{match['text']}]({repo_url}/blob/main/{target}{match['anchor'] or ''})"
        return match["text"]

    return LINK.sub(replace, markdown)
