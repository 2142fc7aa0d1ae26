"""Architecture and documentation guards: imports point one way, every settings key is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args, get_origin

from pydantic import BaseModel

from scheduler.config import Settings
from tests.conftest import ROOT


def test_import_layers():
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken" in res.stdout


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


def test_every_command_has_help(cli):
    from scheduler.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        res = cli(name, "--help")
        assert res.returncode == 0 and "usage: newswatch" in res.stdout, name
