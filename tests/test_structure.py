"""The house's shape, read from the source: folders by concern, arrows only downward, no circle,
no private name reached across files, the model package free of Gradio and the UI, small folders.

An import scan with `ast` (function-level imports included: an import moved into a function to
break a circle is still a circle).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "ui")
MAX_MODULES_PER_FOLDER = 12

# Each area's rank: an area may import only areas of a lower rank (or its own modules).
LAYERS = {
    "model.events": 0, "model.limits": 0, "model.registry": 0, "model.reasoning": 0,
    "model.inputs": 1,
    "model.local": 2, "model.remote": 2,
    "model.plan": 3, "model.tiny": 3,
    "ui.i18n": 10, "ui.store": 11, "ui.render": 12, "ui.serving": 13, "ui.http": 14, "ui.page": 15,
}
# Private attributes of other libraries' objects that the code reads on purpose, and why.
LIBRARY_PRIVATES = {
    "_compile_all_devices": "torch._inductor's config switch for compiling on every device",
    "_replace": "the public method of a namedtuple (urllib's SplitResult)",
    "_id": "Gradio's id of a registered event function, needed to name it in the API",
    "_parse_file_size": "Gradio's own reading of max_file_size, so MCP's bound is the page's",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


SOURCES = sources()


def imported(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module, names, line) for every absolute import, wherever it stands."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
    return found


def resolve(module: str, names: list[str]) -> list[str]:
    """The project's modules an import reaches: `from ui.page import handlers` reaches ui.page.handlers."""
    if module not in SOURCES:
        return []
    reached = [f"{module}.{name}" for name in names if f"{module}.{name}" in SOURCES]
    return reached or [module]


def area(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def module_graph(sources: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in sources.items():
        for module, names, _ in imported(ast.parse(path.read_text(encoding="utf-8"))):
            graph[name] |= {target for target in resolve(module, names) if target != name}
    return graph


def upward_arrows(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    wrong = []
    for source, targets in graph.items():
        for target in targets:
            if area(source) == area(target):
                continue
            if area(source) in layers and area(target) in layers and layers[area(target)] >= layers[area(source)]:
                wrong.append(f"{source} -> {target}")
    return sorted(wrong)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module found on a cycle, one cycle each (depth-first search with colours)."""
    state: dict[str, int] = {}
    found, stack = [], []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def private_uses(name: str, tree: ast.AST) -> list[str]:
    """Private names imported from another of our modules, and private members of anything but
    `self`/`cls` read here (unless they are a library's, listed in LIBRARY_PRIVATES)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in SOURCES and node.module != name:
            found += [f"{name}:{node.lineno} imports {alias.name} from {node.module}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) and node.attr not in LIBRARY_PRIVATES:
                found.append(f"{name}:{node.lineno} reads {ast.unparse(node)}")
    return found


GRAPH = module_graph(SOURCES)


def test_the_scan_sees_the_whole_house():
    assert len(SOURCES) > 60 and "ui.page.layout" in SOURCES and "model.local.engine" in SOURCES
    assert "ui.render.messages" in GRAPH["ui.page.handlers"]


def test_every_area_has_a_rank():
    areas = {area(name) for name in SOURCES if name.count(".") >= 1}
    assert areas <= set(LAYERS), areas - set(LAYERS)


def test_arrows_point_down_only():
    assert upward_arrows(GRAPH, LAYERS) == []


def test_no_circle():
    assert circles(GRAPH) == []


def test_no_private_name_is_reached_across_files():
    found = [use for name, path in SOURCES.items()
             for use in private_uses(name, ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


def test_the_model_package_never_imports_gradio_or_the_ui():
    wrong = [f"{name} imports {module}" for name, path in SOURCES.items() if name.startswith("model")
             for module, _, _ in imported(ast.parse(path.read_text(encoding="utf-8")))
             if module.split(".")[0] in ("gradio", "gradio_client", "ui")]
    assert wrong == []


@pytest.mark.parametrize("folder", sorted({path.parent for path in SOURCES.values()}), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_folder_is_small_and_says_what_it_promises(folder):
    modules = [path for path in folder.glob("*.py") if path.name != "__init__.py"]
    assert len(modules) <= MAX_MODULES_PER_FOLDER
    init = folder / "__init__.py"
    assert init.exists() and len(ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or "") > 60


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_module_states_its_contract(name):
    assert ast.get_docstring(ast.parse(SOURCES[name].read_text(encoding="utf-8")))


def builds_components(function: ast.AST) -> bool:
    """Whether a function calls a Gradio component or layout (`gr.Button(...)`, `gr.Row(...)`)."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and isinstance(node.func.value, ast.Name) and node.func.value.id == "gr"
               and node.func.attr[:1].isupper() for node in ast.walk(function))


def is_dict(value: ast.AST | None) -> bool:
    return isinstance(value, (ast.Dict, ast.DictComp)) or (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict")


def component_dicts(name: str, tree: ast.AST) -> list[str]:
    """Functions that build components and hand them back in a string-keyed dict (`return dict(...)`
    or `{...}`), and lookups of components by position in the settings (`CONTROL_NAMES.index`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and builds_components(node):
            dicts = {target.id for assign in ast.walk(node) if isinstance(assign, (ast.Assign, ast.AnnAssign))
                     and is_dict(assign.value) for target in (assign.targets if isinstance(assign, ast.Assign) else [assign.target])
                     if isinstance(target, ast.Name)}
            returns = [ret.value for ret in ast.walk(node) if isinstance(ret, ast.Return) and ret.value is not None]
            if any(is_dict(value) or (isinstance(value, ast.Name) and value.id in dicts) for value in returns):
                found.append(f"{name}:{node.lineno} {node.name} returns its components in a dict")
        if (isinstance(node, ast.Attribute) and node.attr == "index" and isinstance(node.value, ast.Name)
                and node.value.id == "CONTROL_NAMES"):
            found.append(f"{name}:{node.lineno} finds a control by its position")
    return found


def test_views_hand_back_their_components_as_dataclasses():
    found = [use for name, path in SOURCES.items() if name.startswith("ui.page")
             for use in component_dicts(name, ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


# ---- the checks catch what they are for ---------------------------------------------------------

def test_an_upward_arrow_is_caught():
    assert upward_arrows({"ui.store.history": {"ui.render.messages"}}, LAYERS) == ["ui.store.history -> ui.render.messages"]
    assert upward_arrows({"model.inputs.assemble": {"model.local.loader"}}, LAYERS) != []
    assert upward_arrows({"ui.page.layout": {"ui.render.messages"}, "ui.render.messages": {"ui.render.safe_text"}},
                         LAYERS) == []


def test_a_circle_is_caught():
    graph = {"model.plan.placement": {"model.plan.text"}, "model.plan.text": {"model.plan.placement"}}
    assert circles(graph) == [["model.plan.placement", "model.plan.text", "model.plan.placement"]]
    assert circles({"a": {"b"}, "b": {"c"}}) == []


def test_a_private_reach_is_caught():
    tree = ast.parse("from model.local.loader import _hidden\nif self.handlers._running(r): pass\n"
                     "self._mine = 1\nparts._replace(path='')\n")
    assert private_uses("model.plan.sizes", tree) == ["model.plan.sizes:1 imports _hidden from model.local.loader",
                                                       "model.plan.sizes:2 reads self.handlers._running"]


def test_a_function_level_import_counts():
    found = imported(ast.parse("def late():\n    from model.plan.text import plan_table\n"))
    assert found == [("model.plan.text", ["plan_table"], 2)]


def test_a_view_returning_a_dict_of_components_is_caught():
    tree = ast.parse("def panel():\n    button = gr.Button('Go')\n    return dict(button=button)\n"
                     "def fine():\n    return {'a': 1}\n"
                     "def columns():\n    parts = {side: [] for side in 'ab'}\n    gr.Row()\n    return parts\n"
                     "def slider(controls):\n    return controls[CONTROL_NAMES.index('max_tiles')]\n")
    assert component_dicts("ui.page.x", tree) == ["ui.page.x:1 panel returns its components in a dict",
                                                  "ui.page.x:6 columns returns its components in a dict",
                                                  "ui.page.x:11 finds a control by its position"]
