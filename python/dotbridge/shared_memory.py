"""Shared memory: for now the stdlib's ``multiprocessing.shared_memory`` (same segments the C# side maps)."""

from multiprocessing.shared_memory import ShareableList, SharedMemory

__all__ = ["SharedMemory", "ShareableList"]
