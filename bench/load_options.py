"""Ways to load a large configuration faster, measured on the synthetic one (bench/synth.py):

    python bench/load_options.py [--size 50000] [--workers 2]

serial       what load_configuration does today: every file through yamlfile.parse_yaml_bytes
             (libyaml's parser, the node tree kept for locations, the located builder), then the
             rest of loading (schema checks, references, expansion); process CPU seconds.
processes    the same parse in a pool of --workers processes, documents sent back pickled: wall
             seconds, and CPU seconds of this process plus the workers'.
cache        the parsed documents (data and the shallow key locations) kept per file under the
             SHA-256 of its bytes: the CPU of a run that finds every file cached (hash, read,
             unpickle), and of the run that fills the cache.
parsers      data alone (no locations) from PyYAML's CSafeLoader and from faster parsers on PyPI
             when installed (rapidyaml, ryaml, fastyaml-rs, py-yaml12): what a parser swap could
             save at most, before it is made to give a line and column for every key and value.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import pickle
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import synth  # noqa: E402
import yaml  # noqa: E402

from reconciler.config.loader import load_configuration  # noqa: E402
from reconciler.config.yamlfile import LocatedDocument, parse_yaml_bytes  # noqa: E402


def cpu_now() -> float:
    """CPU seconds of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, result), with the garbage collector off as load_configuration has it."""
    gc.collect()
    gc.disable()
    try:
        cpu, wall = cpu_now(), time.perf_counter()
        result = function()
        return cpu_now() - cpu, time.perf_counter() - wall, result
    finally:
        gc.enable()


def parse_file(path: Path) -> LocatedDocument | None:
    document, problems = parse_yaml_bytes(path.read_bytes(), str(path))
    if problems:
        raise RuntimeError(f"{path}: {problems[0]}")
    return portable(document)


def portable(document: LocatedDocument | None) -> LocatedDocument | None:
    """The document without its view of os.environ (read for ${VAR} while parsing, and not picklable)."""
    if document is not None:
        document.env = {}
    return document


def in_processes(files: list[Path], workers: int) -> list[LocatedDocument | None]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(parse_file, files, chunksize=max(1, len(files) // (4 * workers))))


def cached(path: Path, cache: Path) -> LocatedDocument | None:
    data = path.read_bytes()
    entry = cache / hashlib.sha256(data).hexdigest()
    try:
        document: LocatedDocument = pickle.loads(entry.read_bytes())
        return document
    except FileNotFoundError:
        document = portable(parse_yaml_bytes(data, str(path))[0])
        entry.write_bytes(pickle.dumps(document, pickle.HIGHEST_PROTOCOL))
        return document


def data_parsers() -> dict[str, Callable[[bytes], Any]]:
    found: dict[str, Callable[[bytes], Any]] = {"PyYAML CSafeLoader": lambda b: yaml.load(b, Loader=yaml.CSafeLoader)}
    try:
        import ryml  # rapidyaml

        def rapid(data: bytes) -> Any:
            tree = ryml.parse_in_arena(data)
            return tree.size()  # the tree alone: turning it into Python objects costs more on top

        found["rapidyaml (tree only)"] = rapid
    except ImportError:
        pass
    for name, module, attribute in (("ryaml", "ryaml", "loads"), ("fastyaml-rs", "fast_yaml", "safe_load"),
                                    ("py-yaml12", "yaml12", "parse_yaml")):
        try:
            parse = getattr(__import__(module), attribute)
        except (ImportError, AttributeError):
            continue
        found[name] = (lambda p: lambda b: p(b.decode("utf-8")))(parse)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reconciler-load-") as tmp:
        root = Path(tmp)
        config = root / "config"
        files = sorted(synth.write_config(synth.make_account(opts.size), config))
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{opts.size:,} objects in {len(files)} files, {size_mb:.1f} MB")
        load_cpu, load_wall, _ = measured(lambda: load_configuration(config))
        parse_cpu, parse_wall, _ = measured(lambda: [parse_file(f) for f in files])
        print(f"  serial     load_configuration {load_cpu:.2f} s CPU ({load_wall:.2f} s wall), of which parsing "
              f"{parse_cpu:.2f} s CPU")
        pool_cpu, pool_wall, _ = measured(lambda: in_processes(files, opts.workers))
        print(f"  processes  {opts.workers} workers (started, used, shut down): {pool_wall:.2f} s wall, "
              f"{pool_cpu:.2f} s CPU in all processes (serial: {parse_wall:.2f} s wall)")
        cache = root / "cache"
        cache.mkdir()
        fill_cpu, _, _ = measured(lambda: [cached(f, cache) for f in files])
        warm_cpu, warm_wall, _ = measured(lambda: [cached(f, cache) for f in files])
        cache_mb = sum(p.stat().st_size for p in cache.iterdir()) / 1e6
        print(f"  cache      every file cached: {warm_cpu:.2f} s CPU ({warm_wall:.2f} s wall); filling it: "
              f"{fill_cpu:.2f} s CPU; {cache_mb:.1f} MB on disk")
        contents = [f.read_bytes() for f in files]
        for name, parse in data_parsers().items():
            cpu, _, _ = measured(lambda p=parse: [p(b) for b in contents])  # type: ignore[misc]
            print(f"  parser     {name:<24} data only: {cpu:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
