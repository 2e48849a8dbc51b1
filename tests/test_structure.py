"""The shape of the code: dependencies point down through named layers, with no circle, and
`--concurrency N` means N requests in flight at most, whoever sends them."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import Request, Response
from reconciler.live import fetch_live
from reconciler.model import Kind
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.transport import SandboxTransport

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"

# Bottom to top: a module may import from its own layer or any layer below, never above.
LAYERS: list[tuple[str, ...]] = [
    ("reconciler", "reconciler.errors", "reconciler.secrets", "reconciler.perf"),
    ("reconciler.clicktime",),  # the ClickTime client and its transports
    ("reconciler.sandbox",),  # the emulator: answers as ClickTime does, below everything that plans
    ("reconciler.model",),
    ("reconciler.config",),
    ("reconciler.plan", "reconciler.rules", "reconciler.diff", "reconciler.planfile", "reconciler.safety",
     "reconciler.render", "reconciler.export", "reconciler.scaffold", "reconciler.scope",
     "reconciler.artifacts"),  # the pure core
    ("reconciler.live", "reconciler.journal", "reconciler.lock", "reconciler.apply", "reconciler.impact",
     "reconciler.probe"),  # reading and writing the account
    ("reconciler.backends", "reconciler.doctor"),
    ("reconciler.engine",),
    ("reconciler.cli", "reconciler.__main__", "reconciler.progress", "reconciler.logs",
     "reconciler.retries"),  # the terminal
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every module's imports of the package, at any depth (imports inside functions count)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reconciler"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if (PACKAGE.parent / (
                    f"{node.module}.{a.name}".replace(".", "/") + ".py")).exists())
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("reconciler"))
    return graph


def layer_of(module: str) -> int:
    best = -1, -1  # (length of the matched prefix, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "reconciler" and module != prefix:
                continue  # the package itself, not everything in it
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = len(prefix), index
    assert best[1] >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return best[1]


def test_every_import_points_down_or_sideways() -> None:
    upward = sorted(f"{module} -> {target}" for module, targets in imports().items() for target in targets
                    if layer_of(target) > layer_of(module))
    assert upward == []


def test_no_import_circle() -> None:
    found = imports()
    graph = {m: {t for t in ts if t in found} for m, ts in found.items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target == module or module.startswith(target + "."):
                continue  # a package's own __init__ and its parents are not a circle
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target):], target] if target in trail else [module, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_concurrency_means_requests_in_flight_on_every_path(tmp_path: Path) -> None:
    emulator = Emulator.open(str(tmp_path / "account.sqlite3"))
    seed = ClickTimeClient(SandboxTransport(emulator))
    client_id = seed.create("Clients", {"Name": "A", "ShortName": "A"})["ID"]
    for number in range(40):
        seed.create("Jobs", {"Name": f"J{number}", "JobNumber": f"J{number}", "ClientID": client_id})

    class Counting(SandboxTransport):
        def __init__(self) -> None:
            super().__init__(emulator)
            self.now = self.most = 0
            self.lock = threading.Lock()

        def send(self, request: Request) -> Response:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(0.01)
            try:
                return super().send(request)
            finally:
                with self.lock:
                    self.now -= 1

    transport = Counting()
    client = ClickTimeClient(transport, concurrency=3)
    live = fetch_live(client, {key: {"tasks", "users"} for key in [("A", f"J{n}") for n in range(40)]})
    assert len(live.objects[Kind.JOB]) == 40
    assert transport.most == 3  # reached, never passed: kinds, pages and assignment lists share one limit
    emulator.close()
