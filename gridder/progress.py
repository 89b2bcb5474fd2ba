"""Progress reporting for long steps, decoupled from the terminal.

Library functions take an optional ``progress`` callback (:data:`ProgressFn`,
called with ``(done, total)``); the command line passes one that drives a rich
progress bar, the API one that records a job's progress.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["ProgressFn", "progress_bar"]

ProgressFn = Callable[[int, int], None]


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``(done, total)`` callback that drives a progress bar on stderr.

    The bar is shown only when ``enabled`` and stderr is a terminal.
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
