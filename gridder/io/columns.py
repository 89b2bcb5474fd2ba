"""Column names: Chinese header aliases and the user's ``--columns`` mapping.

Planners' spreadsheets say 户数 or HH_TOTAL where the contract says
``households``. :func:`canonical_columns` renames a frame's columns to the
contract's names: a user mapping first, then the built-in aliases
(:data:`gridder.schema.ALIASES`), then a case-insensitive match.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from gridder.errors import InputError, Problem
from gridder.schema import ALIASES, LAYERS

__all__ = [
    "ColumnMapping",
    "canonical_columns",
    "column_mapping",
    "known_columns",
    "parse_column_mapping",
]


class ColumnMapping(dict[str, str]):
    """File header → canonical name (``--columns``), remembering which headers were found.

    :func:`canonical_columns` records every header it renames in :attr:`used`;
    :meth:`check_used` then refuses a mapping naming a header no input has (a
    typo would otherwise leave the file's own column in use, silently).
    """

    def __init__(self, *args: object, **kwargs: str) -> None:
        super().__init__(*args, **kwargs)
        self.used: set[str] = set()
        #: headers given for several canonical names (``community_id=ID,building_id=ID``:
        #: an ``ID`` column in each file), resolved per layer by :meth:`for_layer`
        self.alternatives: dict[str, tuple[str, ...]] = {}

    def for_layer(self, kind: str) -> ColumnMapping:
        """The mapping one layer reads with.

        A header given for several names takes the one this layer knows, its id
        first (communities' ``ID`` → ``community_id``, buildings' ``ID`` →
        ``building_id``). Headers found are recorded in :attr:`used` of this
        mapping, which the returned one shares.
        """
        if not self.alternatives:
            return self
        spec = LAYERS.get(kind)
        order = [] if spec is None else [spec.id_column, *spec.required, *spec.optional]
        out = ColumnMapping(self)
        out.used = self.used
        for header, names in self.alternatives.items():
            known = [c for c in order if c in names]
            if len(known) > 1 and (spec is None or known[0] != spec.id_column):
                raise InputError.single(
                    "--columns",
                    header,
                    f"one header for {' and '.join(known)}, both columns of the {kind}: "
                    "give each its own header",
                )
            out[header] = known[0] if known else names[-1]
        return out

    def check_used(self, inputs: str = "the inputs") -> None:
        """Raise :class:`InputError` naming each mapped header found in no input read."""
        missing = [h for h in self if h not in self.used]
        if missing:
            raise InputError(
                [
                    Problem(
                        "--columns",
                        f"{self[h]}={h}",
                        f"no column {h!r} in {inputs} (headers match whatever their case)",
                    )
                    for h in missing
                ]
            )


def known_columns() -> frozenset[str]:
    """Canonical column names a ``--columns`` mapping may name."""
    names = {"lon", "lat"}
    for spec in LAYERS.values():
        names |= set(spec.required) | set(spec.optional)
        if spec.id_column:
            names.add(spec.id_column)
    return frozenset(names)


def column_mapping(pairs: Mapping[str, str], source: str = "--columns") -> ColumnMapping:
    """``{"households": "HH_TOTAL"}`` (canonical → header) as a :class:`ColumnMapping`.

    The API's ``params.columns``; the same checks as :func:`parse_column_mapping`.

    Raises
    ------
    InputError
        When a name is empty or holds ``,`` or ``=``, or a canonical name is
        not a column gridder reads.
    """
    for canonical, header in pairs.items():
        for text in (str(canonical), str(header)):
            if not text.strip() or "," in text or "=" in text:
                raise InputError.single(
                    source, f"{canonical}={header}", "names must be non-empty, without , or ="
                )
    text = ",".join(f"{k}={v}" for k, v in pairs.items())
    try:
        return parse_column_mapping(text)
    except InputError as exc:
        raise InputError([Problem(source, p.feature, p.problem) for p in exc.problems]) from None


def parse_column_mapping(text: str | None) -> ColumnMapping:
    """Parse ``'households=HH_TOTAL,building_id=楼号'`` into ``{"HH_TOTAL": "households", ...}``.

    The returned mapping goes from the file's header to the canonical name.

    Raises
    ------
    InputError
        When an item is not of the form ``canonical=header``, or names a
        canonical column gridder does not read.
    """
    mapping = ColumnMapping()
    if not text:
        return mapping
    known = known_columns()
    problems: list[Problem] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        canonical, sep, header = item.partition("=")
        if not sep or not canonical.strip() or not header.strip():
            raise InputError.single(
                "--columns", item, "expected canonical=header, e.g. households=HH_TOTAL"
            )
        if canonical.strip() not in known:
            problems.append(
                Problem(
                    "--columns",
                    item,
                    f"{canonical.strip()!r} is not a column gridder reads; "
                    f"one of {', '.join(sorted(known))}",
                )
            )
        header, canonical = header.strip(), canonical.strip()
        # headers match ignoring case: ID and id are one header
        header = next((h for h in mapping if _normalise(h) == _normalise(header)), header)
        if header in mapping and mapping[header] != canonical:
            names = mapping.alternatives.get(header, (mapping[header],))
            mapping.alternatives[header] = (*names, canonical)
        mapping[header] = canonical
    if problems:
        raise InputError(problems)
    return mapping


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def canonical_columns(
    frame: pd.DataFrame,
    *,
    user_mapping: Mapping[str, str] | None = None,
    source: str = "",
) -> pd.DataFrame:
    """Rename columns to the contract's canonical names.

    Parameters
    ----------
    frame
        The frame as read.
    user_mapping
        File header → canonical name (from ``--columns``); overrides aliases.
        The mapping is shared by every input, so headers a file lacks are ignored
        (a column still missing afterwards is reported by validation).
    source
        File name for error messages.

    Returns
    -------
    pandas.DataFrame
        The same frame with renamed columns (the geometry column is kept).

    Raises
    ------
    InputError
        When two columns would get the same canonical name.
    """
    # headers match the mapping as written or case-insensitively (tables' headers are
    # normalised once on reading, before the mapping is applied again)
    given = user_mapping
    original = {_normalise(k): k for k in (user_mapping or {})}
    user_mapping = dict(user_mapping or {})
    user_mapping.update({_normalise(k): v for k, v in user_mapping.items()})
    aliases = {_normalise(k): v for k, v in ALIASES.items()}
    present = {str(c) for c in frame.columns}
    renames: dict[str, str] = {}
    claimed: dict[str, str] = {}
    problems: list[Problem] = []
    # user mapping and exact canonical names take priority over aliases
    for col in frame.columns:
        if col == "geometry":
            continue
        if col in user_mapping:
            renames[col] = user_mapping[col]
        elif _normalise(str(col)) in user_mapping:
            renames[col] = user_mapping[_normalise(str(col))]
        else:
            continue
        if isinstance(given, ColumnMapping):
            given.used.add(str(col) if col in given else original[_normalise(str(col))])
    mapped = set(renames.values())  # canonical names the user's mapping gives
    for col in frame.columns:
        if col == "geometry" or col in renames:
            continue
        norm = _normalise(str(col))
        target = aliases.get(norm)
        if target is None and norm != col:
            target = norm  # e.g. "Households " → "households"
        if (target or norm) in mapped:
            # the user's mapping wins over a column already so named or an alias: that
            # column is kept under another name, out of the way
            if norm in mapped:
                renames[col] = f"{norm}_unmapped"
            continue
        if target is not None and target in present and target not in renames.values():
            continue  # a column already named so wins over an alias (levels, building:levels)
        if target is not None and target != col:
            renames[col] = target
    for col in frame.columns:
        target = renames.get(col, col)
        if target in claimed and claimed[target] != col:
            problems.append(
                Problem(
                    source,
                    "",
                    f"columns {claimed[target]!r} and {col!r} both map to {target!r}; "
                    f"rename one or use --columns {target}=<header>",
                )
            )
        claimed[target] = col
    if problems:
        raise InputError(problems)
    return frame.rename(columns=renames)
