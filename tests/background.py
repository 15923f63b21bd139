"""Slow, independent work (mostly a fresh Python process each) started ahead of the tests
that check it, a few at a time: each test then waits for its own result, with a deadline,
instead of the processes running one after another."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any


class Background:
    """Named jobs on a pool of `workers` threads (default: one per CPU)."""

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2)
        self._jobs: dict[str, Future[Any]] = {}

    def submit(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._jobs[name] = self._pool.submit(fn, *args, **kwargs)

    def result(self, name: str, timeout: float = 300) -> Any:
        """The job's return value (its exception is raised here)."""
        return self._jobs[name].result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def background(workers: int | None = None) -> Iterator[Background]:
    jobs = Background(workers)
    try:
        yield jobs
    finally:
        jobs.close()
