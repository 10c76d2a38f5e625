"""The packages' imports point one way, read from the source (every import that runs: module level, inside
functions, relative, ``from curation import x``, and the model stages' implementations the registry imports by
name; not those under ``if TYPE_CHECKING:``).

    core  <  video, models, runtime, contract  <  annotate, curate (neither imports the other)  <  train
          <  config (the whole file's sections)  <  testing  <  cli

``contract`` is what annotate writes and curate and train read (the table's schema, its row kinds, the reading
of an annotate output). Every package must be listed here, and neither the packages nor the modules may import
in a cycle of any length."""
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "curation"

# Package (or top-level module) -> the curation packages it may import (besides itself).
BASE = {"core"}
LEAVES = BASE | {"video", "models", "runtime", "contract"}
ALLOWED = {
    "core": set(),
    "video": BASE,
    "models": BASE,
    "runtime": BASE,
    "contract": BASE,
    "annotate": LEAVES,
    "curate": LEAVES,
    "train": LEAVES | {"annotate", "curate"},
    "config": LEAVES | {"annotate", "curate", "train"},
    "testing": LEAVES | {"annotate", "curate", "train", "config"},
    "cli": LEAVES | {"annotate", "curate", "train", "config", "testing"},
    "__init__": set(),
}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in ROOT.rglob("*.py")}


def _targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The absolute curation modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")[:None if is_package else -1]
            parts = parts[:len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        # `from curation import x` / `from curation.pkg import mod` may name modules as well as symbols.
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    return [n for n in names if n == "curation" or n.startswith("curation.")]


def _imports() -> dict[str, set[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        # Imports under `if TYPE_CHECKING:` never run: type names only.
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in typing_only:
                # A name that is not a module (a symbol) is dropped; `curation` itself is its __init__.
                edges[module].update(t for t in _targets(node, module, path.name == "__init__.py")
                                     if t in modules and t != "curation")
    # The model stages are imported by name ("module:Class") where they run.
    from curation.annotate.enrich.registry import REGISTRY

    for stage in REGISTRY:
        edges["curation.annotate.enrich.registry"].add(stage.implementation.split(":")[0])
    return edges


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node, or with a self-loop (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1 or v in graph.get(v, ()):
                        out.append(sorted(component))
    return out


def test_every_package_has_a_layer():
    assert {_package(m) for m in _modules()} <= set(ALLOWED), sorted({_package(m) for m in _modules()} - set(ALLOWED))


def test_packages_import_downwards_only():
    wrong = sorted((module, target) for module, targets in _imports().items() for target in targets
                   if _package(target) != _package(module) and _package(target) not in ALLOWED[_package(module)])
    assert not wrong, wrong


def test_the_layers_themselves_have_no_cycle():
    assert not _cycles({p: set(a) for p, a in ALLOWED.items()})


def test_no_import_cycle_between_packages():
    edges = _imports()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in edges.items():
        graph[_package(module)].update(_package(t) for t in targets if _package(t) != _package(module))
    assert not _cycles(graph), _cycles(graph)


def test_no_import_cycle_between_modules():
    # Of any length, function-level imports included (a package's __init__ importing its own modules is not
    # a cycle unless they import it back).
    assert not _cycles(_imports()), _cycles(_imports())


def test_the_cycle_finder_finds_long_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
