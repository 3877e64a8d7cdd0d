"""Every variant's colour, size and material as compact arrays, for filtering products unopened.

A question's colour, size or material must be had by one variant ("the runner in green, 240 cm":
a green one that is 240 cm). Checking that on the products themselves means decoding each one,
~0.1-0.2 ms; when no product has the attributes (a colour nobody sells) the search used to open
up to 200 before searching again without them. This table answers the same question for every
product at once from arrays built from the sync's `variants` column: word postings of colours
and materials, and an index into the distinct sizes. What depends on the time (a sale's price)
and the stock is still checked on the products opened (bot.catalog.search.matching_variants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bot.catalog.query import Filters, size_matches
from bot.catalog.text import words

if TYPE_CHECKING:
    from collections.abc import Sequence


class VariantTable:
    """The variants of one catalogue version: which product each is of, and its attributes."""

    def __init__(self, attributes: Sequence[Sequence[Sequence[str]]]):
        """`attributes`: per product, [colour, size, material] of each variant, as
        Product.variant_attributes gives them (a title for a colour, an inherited material)."""
        product: list[int] = []
        colours: dict[str, list[int]] = {}
        materials: dict[str, list[int]] = {}
        size_of: dict[str, int] = {}
        size_codes: list[int] = []
        for ordinal, variants in enumerate(attributes):
            for colour, size, material in variants:
                index = len(product)
                product.append(ordinal)
                for word in set(words(colour)):
                    colours.setdefault(word, []).append(index)
                for word in set(words(material)):
                    materials.setdefault(word, []).append(index)
                size_codes.append(size_of.setdefault(size, len(size_of)))
        self.product = np.array(product, dtype=np.int64)
        self.products = len(attributes)
        self.colours = {w: np.array(v, dtype=np.int64) for w, v in colours.items()}
        self.materials = {w: np.array(v, dtype=np.int64) for w, v in materials.items()}
        self.sizes = list(size_of)  # distinct sizes as the feed wrote them, by code
        self.size_code = np.array(size_codes, dtype=np.int64)

    def _having(self, postings: dict[str, np.ndarray], word: str) -> np.ndarray:
        found = np.zeros(len(self.product), dtype=bool)
        found[postings.get(word, np.empty(0, dtype=np.int64))] = True
        return found

    def matching(self, filters: Filters) -> np.ndarray | bool:
        """The products with a variant that has one of the asked colours, one of the asked
        sizes and one of the asked materials (True when none is asked)."""
        if not (filters.colours or filters.sizes or filters.materials):
            return True
        keep = np.ones(len(self.product), dtype=bool)
        if filters.colours:
            coloured = np.zeros(len(self.product), dtype=bool)
            for colour in filters.colours:
                every_word = np.ones(len(self.product), dtype=bool)
                for word in colour.split():
                    every_word &= self._having(self.colours, word)
                coloured |= every_word
            keep &= coloured
        if filters.sizes:
            codes = [
                code
                for code, size in enumerate(self.sizes)
                if any(size_matches(asked, size) for asked in filters.sizes)
            ]
            keep &= np.isin(self.size_code, codes)
        if filters.materials:
            made = np.zeros(len(self.product), dtype=bool)
            for material in filters.materials:
                made |= self._having(self.materials, material)
            keep &= made
        out = np.zeros(self.products, dtype=bool)
        out[self.product[keep]] = True
        return out
