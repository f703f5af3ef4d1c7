"""The repository stands on its own, and its README agrees with what runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from trtl.launcher.checks.doctor import DYNAMO_VERSION

ROOT = Path(__file__).resolve().parents[1]


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.is_file() and path.suffix in {".py", ".sh", ".md", ".toml", ".yaml", ".yml", ""}:
            files.append(path)
    return files


def test_nothing_points_outside_the_repository():
    # Written so that this file does not match itself.
    outside = re.compile(r"\.\./share[d]/|/wor[k]/|\.\./\.\./doc[s]/")
    bad = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        bad += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
    assert bad == []


def test_every_doc_the_readme_and_scripts_name_exists():
    named = set()
    for path in [ROOT / "README.md", *(ROOT / "scripts").glob("*")]:
        named |= set(re.findall(r"\bdocs/[\w./-]+\.md\b", path.read_text(encoding="utf-8")))
    assert named, "the README names its docs"
    assert [doc for doc in sorted(named) if not (ROOT / doc).is_file()] == []


def test_readme_images_are_the_dynamo_release_in_use():
    tags = re.findall(
        r"nvcr\.io/nvidia/ai-dynamo/[\w-]+:([\w.]+)", (ROOT / "README.md").read_text()
    )
    assert tags, "the README shows an image"
    assert set(tags) == {DYNAMO_VERSION}
