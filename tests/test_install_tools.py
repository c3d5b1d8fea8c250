"""The Makefile's install helpers in .ci/: uv takes packages from where pip would."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uv_gets_pips_sources_with_pips_precedence():
    uv_sources = load("uv_sources")
    listing = "\n".join([
        ":env:.find-links='/opt/wheels'",
        "global.find-links='/elsewhere'",
        "global.cert='/etc/ssl/certs/ca-certificates.crt'",
        "install.index-url='https://download.pytorch.org/whl/cpu'",
        "global.index-url='https://mirror.example/simple'",
        "global.extra-index-url='file:///a/simple file:///b/simple'",
        "user.timeout='60'",
    ])
    flags = uv_sources.uv_flags(uv_sources.pip_settings(listing))
    assert flags == ["--find-links", "/opt/wheels", "--index-url", "https://download.pytorch.org/whl/cpu",
                     "--extra-index-url", "file:///a/simple", "--extra-index-url", "file:///b/simple",
                     "--index-strategy", "unsafe-best-match"]


def test_no_pip_sources_means_no_uv_flags():
    uv_sources = load("uv_sources")
    assert uv_sources.uv_flags(uv_sources.pip_settings("global.timeout='60'\n")) == []


def test_one_index_needs_no_index_strategy():
    uv_sources = load("uv_sources")
    flags = uv_sources.uv_flags(uv_sources.pip_settings(":env:.index-url='https://mirror.example/simple'\n"))
    assert flags == ["--index-url", "https://mirror.example/simple"]
