"""Running a script as if some packages were not installed: how the tests check that the GPU
benchmarks need only what the GPU machine has beside the wheels bench/gpu_wheels.sh carries."""


def hiding(lacking: tuple[str, ...], module: str) -> str:
    """A `python -c` program that runs `module`'s main as if these packages were not installed."""
    return f"""
import importlib, importlib.abc, importlib.util, sys
lacking = lambda name: name.split(".")[0] in {lacking!r}
class Lacking(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if lacking(name):
            raise ModuleNotFoundError(f"{{name}} is not on the GPU machine", name=name)
sys.meta_path.insert(0, Lacking())
find_spec = importlib.util.find_spec  # how libraries probe for optional packages: absent ones are None
importlib.util.find_spec = lambda name, package=None: None if lacking(name) else find_spec(name, package)
sys.exit(importlib.import_module({module!r}).main(sys.argv[1:]))
"""
