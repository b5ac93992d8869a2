"""Imports run one way: shared (the wire, playbach.music) -> corpus -> model -> engine -> live
-> cli. A module may import its own layer and those below it, never one above (read from the
source with ``ast``, so an import inside a function counts too)."""
import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"
# Each layer's units: packages of playbach, its top-level modules, the shared wire module.
LAYERS = (("playbach_protocol", "music"),  # shared: the wire, and the music beside it
          ("corpus",), ("model",), ("engine",),
          ("live", "player"),  # playbach.player (device/pi): a client of the live stream
          ("cli", "__init__", "__main__"))


def layer(unit):
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def layer_of(module):
    """The layer of a module named ``playbach_protocol`` or ``playbach.<unit>...``; None for
    anything else (the standard library, numpy, the bare ``playbach`` package)."""
    if module == "playbach_protocol":
        return 0
    parts = module.split(".")
    if parts[0] != "playbach" or len(parts) == 1:
        return None
    return layer(parts[1])


def imported(source):
    """Every module an ``import`` or ``from ... import`` in ``source`` names, with its line
    (``from playbach import cli`` names ``playbach.cli``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module == "playbach":
            for alias in node.names:
                yield "playbach." + alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, node.lineno


def upward_imports(path, source):
    """``(line, module imported)`` of each import of ``source`` (the file at ``path`` under
    server/) from a layer above its own."""
    relative = path.relative_to(SERVER)
    own = layer(relative.parts[0] if len(relative.parts) > 1 else relative.stem)
    return [(line, module) for module, line in imported(source)
            if (layer_of(module) or 0) > own]


def test_no_module_imports_a_layer_above_its_own():
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        for line, module in upward_imports(path, path.read_text()):
            found.append("%s:%d imports %s" % (path.relative_to(SERVER.parent), line, module))
    assert not found, "\n".join(found)


def test_an_upward_import_is_found_even_inside_a_function():
    model = SERVER / "model" / "example.py"
    assert upward_imports(model, "from playbach.model import card\nimport numpy\n") == []
    assert upward_imports(model, "def f():\n    from playbach.engine.generator import G\n") == [
        (2, "playbach.engine.generator")]
    assert upward_imports(model, "from playbach import cli\n") == [(1, "playbach.cli")]
    assert upward_imports(SERVER / "corpus" / "x.py", "import playbach_protocol\n") == []
    assert upward_imports(SERVER / "music.py", "from playbach.corpus import midi\n") == [
        (1, "playbach.corpus")]
    assert upward_imports(SERVER / "live" / "x.py", "import playbach.engine.timeline\n") == []
    assert upward_imports(SERVER / "engine" / "x.py", "import playbach.live.server\n") == [
        (1, "playbach.live.server")]
