"""The wheel users install: every module under trtl/, and `import trtl` working from it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("trtl-*.whl")
    return built


def test_the_wheel_installs_no_generic_top_level_name(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"trtl"}
    for room in ("launcher", "profiles", "k8s_export"):
        assert f"trtl/{room}/__init__.py" in names
    assert "trtl/profiles/builtin/disagg.yaml" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "trtl = trtl.launcher.__main__:main" in text
    assert "trtl = trtl.pytest_plugin" in text


def test_import_trtl_works_from_the_installed_wheel(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # -S: no site-packages processing, so the checkout's editable install (a .pth file) is
    # not on the path; the dependencies come from this venv's site-packages as plain dirs.
    deps = sysconfig.get_paths()["purelib"]
    code = (
        "import trtl, sys\n"
        "p = trtl.plan('disagg', engine='mocker', model='/models/m', port=9000)\n"
        "print([x.name for x in p.processes])\n"
        "print(trtl.launcher.__file__)\n"
        "assert 'launcher' not in sys.modules and 'profiles' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{deps}"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "['frontend', 'prefill-0', 'decode-0']" in done.stdout
    assert done.stdout.splitlines()[1].startswith(str(site / "trtl" / "launcher"))
