"""Real questions and noise: what may become a content gap or a review-queue item."""

from __future__ import annotations

import pytest

from bot.insights.questions import is_real_question


@pytest.mark.parametrize(
    "text",
    [
        "how long do refunds take?",
        "refund?",
        "cancel order",
        "pls help, my parcel never came",
        "¿dónde está mi pedido?",
        "我的订单在哪里",
        "can I pay with Klarna",
    ],
)
def test_a_question_in_words_is_real(text: str) -> None:
    assert is_real_question(text)


@pytest.mark.parametrize(
    "text",
    ["Ù𕮕÷7…", "l", "asdfgh", "qwerty uiop", "jjjjjjj", "sdfg hjkl", "123-4567", "😀😀😀", "", "?!"],
)
def test_keyboard_mash_and_fuzz_are_not_questions(text: str) -> None:
    assert not is_real_question(text)
