"""Text columns as integer codes into a vocabulary, so batches carry numbers, not strings.

A categorical feature or a segment dimension repeats a handful of texts over thousands of
events. :class:`Categories` keeps each distinct text once and one ``int32`` code per event:
routing, counting and the repartition records work on the codes, and code-level lookups
(a category's index in a reference, whether it was ever seen) are computed once per distinct
text, then read through the codes.

>>> column = Categories.from_values(["DE", None, "FR", "DE"])
>>> column.codes.tolist(), column.vocabulary
([0, -1, 1, 0], ['DE', 'FR'])
>>> column.take(np.array([3, 2])).values()
['DE', 'FR']
>>> Categories.concat([column, Categories.from_values(["US", "FR"])]).values()
['DE', None, 'FR', 'DE', 'US', 'FR']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MISSING = -1  # the code of a missing (None) value


@dataclass(eq=False)
class Categories:
    """``vocabulary[codes[i]]`` is event ``i``'s text, ``codes[i] == -1`` a missing one.

    The vocabulary may hold texts no code refers to (after :meth:`take`); codes are never
    outside it.
    """

    codes: np.ndarray  # int32
    vocabulary: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def __eq__(self, other: object) -> bool:
        """The same texts in the same events, however they are coded."""
        return isinstance(other, Categories) and self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the arrays it holds

    @classmethod
    def from_values(cls, values: Sequence[str | None]) -> Categories:
        """Codes in order of first appearance."""
        index: dict[str | None, int] = {None: MISSING}
        codes = np.fromiter(
            (index.setdefault(v, len(index) - 1) for v in values), np.int32, len(values)
        )
        return cls(codes, [v for v in index if v is not None])

    def texts(self) -> list[str]:
        """The texts of a column without missing values (segments)."""
        return [self.vocabulary[c] for c in self.codes.tolist()]

    def values(self) -> list[str | None]:
        """The texts, None where missing."""
        table: list[str | None] = [*self.vocabulary, None]  # code -1 reads the last entry
        return [table[c] for c in self.codes.tolist()]

    def take(self, rows: np.ndarray | slice) -> Categories:
        """The events at ``rows`` (same vocabulary)."""
        return Categories(self.codes[rows], self.vocabulary)

    __getitem__ = take  # so code that slices columns slices these too

    @staticmethod
    def concat(parts: Sequence[Categories]) -> Categories:
        """The parts one after another, their vocabularies merged (first one's order first)."""
        if len(parts) == 1:
            return parts[0]
        index: dict[str, int] = {}
        codes = []
        for part in parts:
            remap = np.array([index.setdefault(v, len(index)) for v in part.vocabulary] + [-1])
            codes.append(remap[part.codes].astype(np.int32))
        return Categories(np.concatenate(codes) if codes else np.empty(0, np.int32), list(index))

    def first_seen(self) -> list[int]:
        """The codes in use, in order of their first event (missing excluded)."""
        present = self.codes[self.codes >= 0]
        unique, first = np.unique(present, return_index=True)
        order: list[int] = unique[np.argsort(first, kind="stable")].tolist()
        return order

    def counts(self) -> dict[str, int]:
        """Events per text (missing ones not counted)."""
        tally = np.bincount(self.codes[self.codes >= 0], minlength=len(self.vocabulary))
        return {t: int(n) for t, n in zip(self.vocabulary, tally.tolist(), strict=True) if n}
