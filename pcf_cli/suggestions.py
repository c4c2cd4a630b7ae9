"""Close matches for a mistyped name, by the original PCF's rule: edit distance at most 40 % of its length."""

from __future__ import annotations

import math
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein


def similar_strings(given_str: str, search_list: Iterable[str] = ()) -> list[str]:
    """The strings of ``search_list`` within ``ceil(len(given_str) / 2.5)`` edits of ``given_str`` (case-blind),
    in their order."""
    threshold = math.ceil(len(given_str) / 2.5)
    given = given_str.lower()
    return [s for s in search_list if Levenshtein.distance(given, s.lower(), score_cutoff=threshold) <= threshold]
