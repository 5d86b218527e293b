"""The layout the README's code map promises, checked on the import graph (ast, nothing imported).

Blueprints are thin HTTP layers that never import one another; the account domain (app/accounts)
imports no blueprint; app/ refers to jobs/ only by dotted name to enqueue, except the entry points.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLUEPRINTS = ("auth", "account", "admin", "main")
# Entry points may import jobs/: the flask commands that run the scheduler, a restore or the demo's stats, and the admin's
# jobs page, which lists the schedule jobs/schedule.py declares.
MAY_IMPORT_JOBS = {"app/cli/jobs.py", "app/cli/backup.py", "app/cli/demo.py", "app/admin/jobs.py"}


def imports_of(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def modules(folder):
    return sorted((ROOT / folder).rglob("*.py"))


def test_no_blueprint_imports_another():
    for blueprint in BLUEPRINTS:
        others = [f"app.{other}" for other in BLUEPRINTS if other != blueprint]
        for path in modules(f"app/{blueprint}"):
            found = [name for name in imports_of(path) if name.split(".")[:2] in [o.split(".") for o in others]]
            assert not found, f"{path.relative_to(ROOT)} imports {found}"


def test_the_account_domain_imports_no_blueprint():
    for path in modules("app/accounts"):
        found = [name for name in imports_of(path) if name.split(".")[:2] in [["app", b] for b in BLUEPRINTS]]
        assert not found, f"{path.relative_to(ROOT)} imports {found}"


def test_app_refers_to_jobs_only_by_name():
    for path in modules("app"):
        relative = str(path.relative_to(ROOT))
        found = [name for name in imports_of(path) if name == "jobs" or name.startswith("jobs.")]
        assert not found or relative in MAY_IMPORT_JOBS, f"{relative} imports {found}"


def test_no_module_of_app_or_jobs_imports_lazily_to_dodge_a_cycle():
    """An import inside a function hides a cycle; only the factory's and the CLI's registration steps may."""
    allowed = {"app/__init__.py", "app/cli/__init__.py"}
    for path in modules("app") + modules("jobs"):
        tree = ast.parse(path.read_text())
        inner = [node.lineno for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
                 for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))]
        relative = str(path.relative_to(ROOT))
        assert not inner or relative in allowed, f"{relative} imports inside a function at line(s) {inner}"


def test_no_module_reaches_into_another_blueprints_views():
    """The captcha's store and the avatars' URLs are components others use; no one imports another's routes."""
    for path in modules("app"):
        package = path.relative_to(ROOT / "app").parts[0]
        found = [name for name in imports_of(path)
                 if name.startswith("app.") and name.split(".")[2:3] == ["views"] and name.split(".")[1] != package]
        assert not found, f"{path.relative_to(ROOT)} imports {found}"
