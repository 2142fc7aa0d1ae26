"""Architecture and documentation guards: imports point one way, the install is namespaced,
every settings key is documented, every command has help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args, get_origin

import pytest
from pydantic import BaseModel

from newswatch.scheduler.config import Settings
from tests.conftest import ROOT


def test_import_layers():
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken" in res.stdout


@pytest.mark.slow
def test_install_adds_only_newswatch_and_lives_beside_a_scheduler_package(tmp_path):
    """The wheel holds only `newswatch`; installed beside another distribution that ships a
    top-level `scheduler` package, both import and work."""
    import zipfile

    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("newswatch-*.whl"))
    names = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {n for n in names if not n.endswith(".dist-info")} == {"newswatch"}, names
    other = tmp_path / "other"
    (other / "scheduler").mkdir(parents=True)
    (other / "scheduler" / "__init__.py").write_text("WHO = 'the other scheduler'\n")
    (other / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
                                          '[project]\nname = "other-scheduler"\nversion = "1.0"\n')
    target = tmp_path / "site"
    for what in (str(wheel), str(other)):
        res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                              "--target", str(target), what], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    probe = ("import scheduler, newswatch.scheduler.cli as cli; "
             "assert scheduler.WHO == 'the other scheduler'; print(cli.build_parser().prog)")
    res = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(target)!r}]; {probe}"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": "", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "newswatch"


def _models(ann):
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out = []
    for a in get_args(ann):
        out += _models(a)
    return out


def settings_keys(model=Settings, prefix="") -> list[str]:
    keys = []
    for name, f in model.model_fields.items():
        key = prefix + (f.alias or name)
        keys.append(key)
        origin = get_origin(f.annotation)
        is_list = origin is list or any(get_origin(a) is list for a in get_args(f.annotation))
        for sub in _models(f.annotation):
            keys += settings_keys(sub, key + ("[]." if is_list else "."))
    return sorted(set(keys))


def test_every_settings_key_is_documented():
    doc = (ROOT / "docs" / "settings.md").read_text("utf-8")
    missing = [k for k in settings_keys() if f"`{k}`" not in doc]
    assert not missing, f"undocumented settings keys (add them to docs/settings.md): {missing}"


def test_every_command_has_help_with_a_description(capsys):
    from newswatch.scheduler.cli import build_parser, main

    commands = build_parser()._subparsers._group_actions[0].choices
    assert len(commands) >= 12
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: newswatch {name}"), name
        description = out.split("\n\n")[1]
        assert len(description.split()) >= 5, f"{name}: no description"


def test_the_real_entry_point_runs():
    res = subprocess.run([str(Path(sys.executable).with_name("newswatch")), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: newswatch" in res.stdout
