"""The in-memory TaskContext that tests drive engines with; it lives with the bench, which uses it too."""

from bench.context import MemoryContext as FakeContext

__all__ = ["FakeContext"]
