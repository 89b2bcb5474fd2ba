"""The exceptions gridder raises.

Every error the library raises on purpose is a :class:`GridderError`. The command
line maps :class:`InputError` to exit status 2 and every other ``GridderError`` to
exit status 1; the API maps them to 4xx JSON answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GridderError(Exception):
    """Base class of every error gridder raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: which file, which feature, what is wrong.

    Parameters
    ----------
    source
        The file (or layer) the problem was found in.
    feature
        The feature's id or row number (``"row 12"``, ``"building_id=B7"``), or
        ``""`` when the problem concerns the whole file.
    problem
        What is wrong, in words a planner understands.
    """

    source: str
    feature: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.feature}: " if self.feature else f"{self.source}: "
        return where + self.problem


class InputError(GridderError, ValueError):
    """Bad input: one or more problems that the user must fix (exit status 2).

    Parameters
    ----------
    problems
        Every problem found; validators collect them all and raise once.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self._message())

    def __reduce__(self) -> tuple[type[InputError], tuple[list[Problem]]]:
        # rebuilt from its problems when it crosses a process boundary (a worker's
        # error): the default would pass the message, a string, as the problems
        return (type(self), (self.problems,))

    @classmethod
    def single(cls, source: str, feature: str, problem: str) -> InputError:
        """Build an error holding one problem."""
        return cls([Problem(source, feature, problem)])

    def _message(self) -> str:
        if not self.problems:
            return "bad input"
        head = str(self.problems[0])
        if len(self.problems) == 1:
            return head
        lines = [f"{len(self.problems)} problems in the input:"]
        shown = self.problems[:50]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


class InfeasibleError(GridderError):
    """A model has no solution under the constraints given."""


class SolverError(GridderError):
    """A solver failed or returned no usable answer."""


class NotFoundError(GridderError, LookupError):
    """A requested object (plan, grid, building, job) does not exist."""
