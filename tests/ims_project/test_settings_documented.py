"""Every setting is declared in ims_project/settings.py, read from the environment there and nowhere else, and
documented in .env.example. Pure: reads source files, no database."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from django.conf import global_settings

from ims_project import settings as project_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILES = sorted((ROOT / "ims_project").glob("settings*.py"))
# Folders that are not the running product: they may read the environment as they like.
OUTSIDE_PRODUCT = {"scripts", "bench", "tests", "tools"}
SKIP_DIRS = {
    ".venv",
    ".git",
    "node_modules",
    "var",
    "staticfiles",
    "static",
    "templates",
    "docs",
    "__pycache__",
}

# Reviewed exceptions: (file, environment variable) -> why this module may read the environment itself.
ENVIRONMENT_EXCEPTIONS = {
    ("manage.py", "DJANGO_SETTINGS_MODULE"): "chooses the settings module before Django is configured",
    (
        "ims_project/wsgi.py",
        "DJANGO_SETTINGS_MODULE",
    ): "chooses the settings module for gunicorn before Django starts",
    (
        "ims_project/celery.py",
        "DJANGO_SETTINGS_MODULE",
    ): "chooses the settings module for the Celery worker/beat",
    ("ims_project/devdb.py", "IMS_PGDATA"): (
        "the embedded PostgreSQL of `make run` starts before settings exist (settings.py calls it to build "
        "DATABASES, scripts/run.py before Django is set up); documented in .env.example"
    ),
}

_ENV_READERS = {"env"}  # env(...), env.int(...), env.bool(...), env.db(...), env.email_url(...), …


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def _first_str(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _tree(path: Path) -> ast.Module:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node  # type: ignore[attr-defined]
    return tree


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, variable) for every os.environ / os.getenv use in ``path``; "?" when the name is not a literal."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(_tree(path)):
        if _is_os_environ(node):
            parent = getattr(node, "parent", None)
            name = "?"
            if isinstance(parent, ast.Attribute) and isinstance(getattr(parent, "parent", None), ast.Call):
                name = _first_str(parent.parent) or "?"  # type: ignore[attr-defined]
            elif isinstance(parent, ast.Subscript) and isinstance(parent.slice, ast.Constant):
                name = str(parent.slice.value)
            elif isinstance(parent, ast.Compare) and isinstance(parent.left, ast.Constant):
                name = str(parent.left.value)
            found.append((node.lineno, name))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"getenv", "putenv", "unsetenv"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "os"
        ):
            found.append((node.lineno, _first_str(node) or "?"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if {a.name for a in node.names} & {"environ", "getenv", "environb", "getenvb"}:
                found.append((node.lineno, "?"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m == "environ" or m.startswith("environ.") for m in modules):
                found.append((node.lineno, "django-environ"))
    return found


def settings_env_names() -> set[str]:
    """Environment variables the settings modules read: env(...) / env.<cast>(...), os.environ, os.getenv."""
    names: set[str] = set()
    for path in SETTINGS_FILES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call):
                func = node.func
                reader = (isinstance(func, ast.Name) and func.id in _ENV_READERS) or (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in _ENV_READERS
                )
                if reader and _first_str(node):
                    names.add(_first_str(node))  # type: ignore[arg-type]
        names |= {name for _, name in environment_reads(path) if name not in {"?", "django-environ"}}
    return names


def product_modules() -> list[Path]:
    """Every Python file of the running product: not settings, scripts, bench, tests or tools."""
    paths = []
    for folder, dirs, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not (rel == Path(".") and d in OUTSIDE_PRODUCT)
        )
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".py") and path not in SETTINGS_FILES:
                paths.append(path)
    return paths


def _settings_aliases(tree: ast.Module) -> set[str]:
    aliases = {"settings"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.conf":
            aliases |= {a.asname or a.name for a in node.names if a.name == "settings"}
    return aliases


def settings_getattr_with_default(path: Path) -> list[tuple[int, str]]:
    tree = _tree(path)
    aliases = _settings_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) == 3
            and (
                (isinstance(node.args[0], ast.Name) and node.args[0].id in aliases)
                or (isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "settings")
            )
        ):
            name = node.args[1].value if isinstance(node.args[1], ast.Constant) else "?"
            found.append((node.lineno, str(name)))
    return found


def settings_read(path: Path) -> set[str]:
    tree = _tree(path)
    aliases = _settings_aliases(tree)
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and re.fullmatch(r"[A-Z][A-Z0-9_]*", node.attr)
    }


def test_the_settings_scan_finds_the_variables_we_know():
    names = settings_env_names()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "EMAIL_URL", "AXES_COOLOFF_HOURS", "IMS_VAR_DIR"} <= names
    assert {"IMS_BULK_ACTION_SYNC_MAX", "IMS_WEBHOOK_MAX_ATTEMPTS", "RECON_REGISTER_MAX_ROWS"} <= names


def test_every_environment_variable_the_settings_read_is_in_env_example():
    missing = settings_env_names() - _documented()
    assert not missing, (
        f"read in ims_project/settings*.py but not documented in .env.example: {sorted(missing)}"
    )


def test_environment_read_by_reviewed_exceptions_is_documented_too():
    names = {name for (_, name) in ENVIRONMENT_EXCEPTIONS if name != "DJANGO_SETTINGS_MODULE"}
    assert names <= _documented(), sorted(names - _documented())


def test_the_product_reads_the_environment_only_through_settings():
    seen: set[tuple[str, str]] = set()
    offending = []
    for path in product_modules():
        rel = path.relative_to(ROOT).as_posix()
        for line, name in environment_reads(path):
            seen.add((rel, name))
            if (rel, name) not in ENVIRONMENT_EXCEPTIONS:
                offending.append(f"{rel}:{line} reads {name}")
    assert not offending, (
        "read the environment in ims_project/settings.py (django-environ) and use settings.X instead, "
        "or add a reviewed exception with its reason: " + "; ".join(offending)
    )
    stale = set(ENVIRONMENT_EXCEPTIONS) - seen
    assert not stale, f"exceptions no longer needed, remove them: {sorted(stale)}"


def test_no_module_reads_a_setting_with_a_hidden_default():
    offending = [
        f"{path.relative_to(ROOT).as_posix()}:{line} getattr(settings, {name!r}, default)"
        for path in product_modules()
        for line, name in settings_getattr_with_default(path)
    ]
    assert not offending, (
        "declare the setting in ims_project/settings.py (with its default) and read settings.X: "
        + "; ".join(offending)
    )


def test_every_setting_the_product_reads_is_declared():
    declared = {n for n in dir(project_settings) if n.isupper()} | {
        n for n in dir(global_settings) if n.isupper()
    }
    undeclared = {
        f"{path.relative_to(ROOT).as_posix()}: settings.{name}"
        for path in product_modules()
        for name in settings_read(path) - declared
    }
    assert not undeclared, f"not declared in ims_project/settings.py: {sorted(undeclared)}"
