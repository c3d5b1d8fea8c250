"""Docs that cannot rot: every command, flag, link and Python snippet in the README and `docs/` is real."""

import contextlib
import importlib
import io
import re
import shlex

import pytest

from finetune_toolkit.cli import COMMANDS

from helpers import ROOT, needs_smollm

PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# `finetune-toolkit SUB`, `python -m finetune_toolkit SUB`, `accelerate launch ... -m finetune_toolkit SUB`
INVOCATION = re.compile(r"(?:finetune-toolkit|-m finetune_toolkit)\s+(\S+)")


def code_blocks(language: str | None = None) -> list[tuple[str, str, str]]:
    """(page, language, text) of every fenced code block."""
    blocks = []
    for page in PAGES:
        for lang, text in FENCE.findall(page.read_text()):
            if language is None or lang == language:
                blocks.append((page.name, lang, text))
    return blocks


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split(" # ")[0].strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def accepted_flags(subcommand: str) -> set[str]:
    """The flags a subcommand's parser accepts, read from its own `--help`."""
    module = importlib.import_module(f"finetune_toolkit.commands.{COMMANDS[subcommand][0]}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):  # argparse exits after the help
        module.main(["--help"])
    return set(re.findall(r"(--[A-Za-z0-9_-]+)", printed.getvalue()))


def invocations() -> list[tuple[str, str, list[str]]]:
    found = []
    for page, lang, text in code_blocks():
        if lang not in ("bash", "sh", ""):
            continue
        for command in shell_commands(text):
            for match in INVOCATION.finditer(command):
                words = shlex.split(command[match.start():])
                at = 2 if words[0] == "-m" else 1  # -m finetune_toolkit SUB, or finetune-toolkit SUB
                found.append((page, words[at], words[at + 1:]))
    return found


def test_the_docs_show_commands():
    pages = {page for page, _, _ in invocations()}
    assert {"README.md", "classification.md", "fewshot.md", "generation.md"} <= pages


def test_every_subcommand_shown_exists_and_every_flag_is_accepted():
    flags_of: dict[str, set[str]] = {}
    problems = []
    for page, subcommand, words in invocations():
        if subcommand in ("--help", "--version", "SUBCOMMAND"):
            continue
        if subcommand not in COMMANDS:
            problems.append(f"{page}: unknown subcommand {subcommand!r}")
            continue
        if subcommand not in flags_of:
            flags_of[subcommand] = accepted_flags(subcommand)
        for word in words:
            flag = word.split("=")[0]
            if flag.startswith("--") and flag not in flags_of[subcommand] and flag != "--help":
                problems.append(f"{page}: finetune-toolkit {subcommand} does not accept {flag}")
    assert not problems, "\n".join(problems)


def test_the_flag_check_catches_a_flag_that_does_not_exist():
    assert "--learning_rate" in accepted_flags("classify")
    assert "--learning_rat" not in accepted_flags("classify")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_every_relative_link_points_to_a_file_and_heading_that_exist():
    problems = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                problems.append(f"{page.name}: link to missing {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{page.name}: link to missing heading {target}")
    assert not problems, "\n".join(problems)


def test_every_python_snippet_compiles():
    blocks = code_blocks("python")
    assert blocks
    for page, _, text in blocks:
        compile(text, page, "exec")


def test_tables_are_not_broken_by_a_paragraph():
    """Markdown ends a table at the first line that is not a row: a row after a paragraph renders as text."""
    for page in PAGES:
        lines = FENCE.sub("", page.read_text()).splitlines()
        for before, line, after in zip(lines, lines[1:], lines[2:]):
            if before.startswith("|") and not line.startswith("|") and line.strip():
                assert not after.startswith("|"), f"{page.name}: table broken by {line[:60]!r}"


def test_the_docs_name_no_path_outside_the_repository():
    for page in PAGES:
        assert "../" + "shared" not in page.read_text(), page.name  # two parts: this file does not name it either


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.slow
@needs_smollm
def test_the_readme_api_snippet_runs():
    (snippet,) = [text for page, _, text in code_blocks("python") if page == "README.md"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    predictions, calibrated = printed.getvalue().strip().split("] [")
    assert predictions.count(",") == 1 and calibrated.count(",") == 1
