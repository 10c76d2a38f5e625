"""The packages' imports point one way (every import, also those inside functions, read from the source):
core at the bottom, then video, models and runtime, then annotate, then curate, then train and the CLI. No two
modules import each other."""
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "curation"

# Package -> the curation packages it may import (besides itself).
ALLOWED = {
    "core": set(),
    "video": {"core"},
    "models": {"core"},
    "runtime": {"core"},
    "annotate": {"core", "video", "models", "runtime", "schema", "config"},
    "curate": {"core", "video", "models", "runtime", "schema", "config", "annotate"},
}


def _imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("curation"):
                edges[module].add(node.module)
            elif isinstance(node, ast.Import):
                edges[module].update(a.name for a in node.names if a.name.startswith("curation"))
    return edges


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_packages_import_downwards_only():
    wrong = sorted((module, target) for module, targets in _imports().items() for target in targets
                   if _package(module) in ALLOWED and _package(target) != _package(module)
                   and _package(target) not in ALLOWED[_package(module)])
    assert not wrong, wrong


def test_no_two_modules_import_each_other():
    edges = _imports()
    mutual = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a in edges.get(b, ())})
    assert not mutual, mutual
