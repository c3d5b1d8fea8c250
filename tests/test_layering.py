"""The package's shape: three import names, a neutral core that imports nothing above it, a cheap top-level import,
and a working directory that cannot shadow the toolkit's packages."""

import ast
import os
import subprocess
import sys

from helpers import ROOT

ABOVE_CORE = ("finetune", "prompts", "finetune_toolkit.adaptation", "finetune_toolkit.emergence", "finetune_toolkit.commands",
              "finetune_toolkit.cli")


def imported_modules(package_dir, root=ROOT) -> dict[str, set[str]]:
    """Every module each file of `package_dir` imports (absolute names; relative imports resolved)."""
    found = {}
    for path in package_dir.rglob("*.py"):
        package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
                names.add(module)
        found[str(path.relative_to(root))] = names
    return found


def reaches(module: str, packages) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def test_the_core_imports_nothing_above_it():
    offending = {path: sorted(m for m in names if reaches(m, ABOVE_CORE))
                 for path, names in imported_modules(ROOT / "finetune_toolkit" / "core").items()}
    assert not {path: names for path, names in offending.items() if names}


def test_finetune_and_prompts_do_not_import_each_other_nor_anything_above_them():
    above = ("finetune_toolkit.adaptation", "finetune_toolkit.emergence", "finetune_toolkit.commands", "finetune_toolkit.cli")
    for package, other in (("finetune", "prompts"), ("prompts", "finetune")):
        for path, names in imported_modules(ROOT / package).items():
            assert not [m for m in names if reaches(m, (other, *above))], path


def test_the_import_checker_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "finetune_toolkit" / "core"
    bad.mkdir(parents=True)
    (bad / "oops.py").write_text("import prompts.template\nfrom ..adaptation import compare\nfrom .models import x\n")
    (names,) = imported_modules(bad, root=tmp_path).values()
    assert names == {"prompts.template", "finetune_toolkit.adaptation", "finetune_toolkit.core.models"}
    assert [m for m in sorted(names) if reaches(m, ABOVE_CORE)] == ["finetune_toolkit.adaptation", "prompts.template"]


def loaded_after(statement: str, cwd=ROOT) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, check=True)
    return set(result.stdout.split())


def test_importing_finetune_toolkit_is_cheap():
    loaded = loaded_after("import finetune_toolkit")
    assert not {"torch", "transformers", "finetune", "prompts", "finetune_toolkit.core"} & loaded


def test_importing_the_core_pulls_in_neither_finetune_nor_prompts():
    loaded = loaded_after("import finetune_toolkit.core")
    assert "finetune_toolkit.core.models" in loaded
    assert not {name for name in loaded if reaches(name, ABOVE_CORE)}


def test_a_users_own_prompts_module_does_not_shadow_ours(tmp_path):
    (tmp_path / "prompts.py").write_text("raise SystemExit('the user prompts.py was imported')\n")
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "__init__.py").write_text("raise SystemExit('the user finetune/ was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "finetune_toolkit", "fewshot", "--help"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    assert "--template" in result.stdout


def test_no_tracked_file_names_a_path_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    outside = "../" + "shared"  # spelled in two parts so that this file does not match itself
    offending = [name for name in tracked if (ROOT / name).is_file() and not name.endswith(".png")
                 and outside in (ROOT / name).read_text(errors="ignore")]
    assert not offending
