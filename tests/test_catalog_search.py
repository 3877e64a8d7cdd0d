"""Typo correction in the catalogue search: a misspelt product word is read as the catalogue's
("mugg" is a mug), a real word is not ("back" is not "black", "safe" not "sage"), and a typo of
a little word ("teh") asks for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog.english import little_word_spellings, real_words, stop_typos
from tests.catalog_fixtures import DEMO_NOW

MODEL = "all-MiniLM-L6-v2"


def test_the_models_vocabulary_gives_real_words_and_the_little_words_typos() -> None:
    real = real_words(MODEL)
    assert len(real) > 15_000
    assert {"back", "safe", "while", "cost", "open", "mug", "board"} <= real
    assert not {"mugg", "blak", "bord", "teh", "candel"} & real
    typos = stop_typos(MODEL)
    assert {"teh", "hte", "waht", "yuo", "adn", "wiht", "thsi"} <= typos
    # a real word is not a typo of a little word ("form" of "from", "shoe" of "show")
    assert not {"form", "shoe", "then", "what", "the"} & typos
    # each typo of one little word only is spelled right; "ary" ("any", "are") is not
    spellings = little_word_spellings(MODEL)
    assert {spellings[t] for t in ("hwo", "teh", "waht")} == {"how", "the", "what"}
    assert "ary" in typos and "ary" not in spellings and set(spellings) <= typos


def test_a_model_without_a_vocabulary_knows_no_words(tmp_path: Path) -> None:
    assert real_words(str(tmp_path)) == frozenset()
    assert stop_typos(str(tmp_path)) == frozenset()


@pytest.mark.model
@pytest.mark.parametrize(
    "word", ["back", "safe", "blank", "block", "while", "line", "cost", "open", "tell", "wind"]
)
def test_a_real_word_is_not_read_as_a_catalogue_word_a_typo_away(product_search, word) -> None:
    assert not product_search.knows(word)


@pytest.mark.model
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("mugg", "mug"),
        ("blak", "black"),
        ("bord", "board"),
        ("candel", "candle"),
        ("napkn", "napkin"),
        ("tabel", "table"),
        ("ceramik", "ceramic"),
        ("walnutt", "walnut"),
        ("striped", "stripe"),  # a real word, and the catalogue's word with a "d"
    ],
)
def test_a_misspelt_catalogue_word_is_still_corrected(product_search, typed, meant) -> None:
    assert product_search._index.correct(typed) == meant


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "without"),
    [
        ("when is the candle back", "when is the candle"),
        ("is the stoneware mug dishwasher safe", "is the stoneware mug dishwasher"),
        ("a mug that is not too big while hot", "a mug that is not too big hot"),
    ],
)
def test_a_real_word_the_catalogue_lacks_weighs_nothing(product_search, question, without) -> None:
    """ "back" corrected to "black" weighed black products up; now the word counts for nothing
    in the words' score (the meaning still reads it)."""
    asked = product_search.search(question, limit=5, now=DEMO_NOW)
    plain = product_search.search(without, limit=5, now=DEMO_NOW)
    lexical = {h.product.id: h.lexical for h in plain.hits}
    assert asked.hits
    for hit in asked.hits:
        if hit.product.id in lexical:
            assert hit.lexical == pytest.approx(lexical[hit.product.id])


@pytest.mark.model
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("how much is teh oak bord", "how much is the oak board"),
        ("waht candels do you sell", "what candles do you sell"),
        ("is teh linen runer in stock", "is the linen runner in stock"),
        ("do yuo have mugg", "do you have mug"),
    ],
)
def test_typos_of_little_words_ask_for_nothing(product_search, typed, meant) -> None:
    """Every product scores by words as the question without the typos does."""
    assert product_search.asks_nothing("teh") and not product_search.asks_nothing("oak")
    assert product_search.respelled("Hwo much is teh Oak board?") == "how much is the Oak board?"
    typo = product_search.search(typed, limit=5, now=DEMO_NOW)
    plain = product_search.search(meant, limit=5, now=DEMO_NOW)
    right = {h.product.id: h.lexical for h in plain.hits}
    found = [h for h in typo.hits if h.product.id in right]
    assert found
    for hit in found:
        assert hit.lexical == pytest.approx(right[hit.product.id])
