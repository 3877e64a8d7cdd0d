"""The bot walks a customer through an article's guide in the chat (bot.dialogue.guides), on
the demo index: buttons per choice, a click leads on, a branch ends with an answer and its
citation or the offer of a person, and typed words ("2", "back", a new question) are read."""

from __future__ import annotations

import json

from bot.dialogue.decision import decide_guide
from bot.dialogue.guides import Walk, guides_of, lead_in, parse_step_id
from bot.dialogue.knowledge import IndexKnowledge
from bot.dialogue.plan import Plan
from bot.dialogue.results import reset_troubleshooting
from bot.dialogue.turn import Turn
from bot.handoff.queue import GuideTaken
from bot.handoff.summary import summarize
from bot.kb.search import Hit, KnowledgeBase
from tests.decision_chat import DecisionChat

FIRST_CHOICES = ["Yes, it's there", "No, it isn't there", "It came, but the link fails"]


def troubleshoot(chat: DecisionChat) -> Plan:
    """'My reset email didn't arrive' as the reset flow's button hands it to the guide."""
    chat.number += 1
    hit = chat.kb.best_section("the password reset email never arrived", "reset-password")
    plan = reset_troubleshooting(hit, IndexKnowledge(chat.kb, None, 0.0), chat.number)
    chat.slots.update(plan.slots)
    return plan


def click(chat: DecisionChat, plan: Plan, title: str) -> Plan:
    """Click the button of that title under the plan's message, as the widget sends it."""
    button = next(b for s in plan.says for b in s.buttons if b.title == title)
    chat.number += 1
    intent, _, entities = button.payload[1:].partition("{")
    step = json.loads("{" + entities)["guide_step"] if entities else None
    turn = Turn(
        text=button.payload,
        intent=intent,
        number=chat.number,
        guide=Walk.from_slot(chat.slots.get("guide")),
        guide_step=step,
    )
    plan = decide_guide(turn, IndexKnowledge(chat.kb, None, 0.0))
    chat.slots.update(plan.slots)
    return plan


def titles(plan: Plan) -> list[str]:
    return [b.title for s in plan.says for b in s.buttons]


def text(plan: Plan) -> str:
    return "\n".join(s.text or "" for s in plan.says)


def test_the_reset_troubleshooting_asks_the_guides_first_question_with_a_button_each(
    kb: KnowledgeBase,
) -> None:
    plan = troubleshoot(DecisionChat(kb))
    assert plan.outcome == "guide" and titles(plan) == FIRST_CHOICES
    assert "spam" in text(plan) and "```" not in text(plan)
    # the writer's lead-in comes first, the heading does not
    assert text(plan).startswith("Most reset emails arrive within 2 minutes.")
    assert "###" not in text(plan)
    meta = plan.says[0].meta
    assert meta["citation"]["url"].endswith("/help/reset-password#the-reset-email-never-arrived")
    assert meta["guide"]["step"] == "question" and not meta.get("feedback")
    assert plan.slots["guide"]["path"] == [] and plan.slots["handoff_offer_reason"] is None


def test_clicks_lead_to_an_answer_with_its_citation_and_back_and_start_over(
    kb: KnowledgeBase,
) -> None:
    chat = DecisionChat(kb)
    second = click(chat, troubleshoot(chat), "It came, but the link fails")
    assert text(second).startswith("Does the page say the link has expired?")
    assert titles(second) == ["Yes, it expired", "No, something else", "Back"]
    answer = click(chat, second, "Yes, it expired")
    assert "newest link" in text(answer) and "Source: [How do I reset my password?" in text(answer)
    assert answer.says[0].meta["outcome"] == "article" and answer.says[0].meta["feedback"]
    assert titles(answer) == ["Back", "Start over"]
    assert chat.slots["guide"]["end"] == "answer" and chat.slots["last_article"] == "reset-password"
    assert titles(click(chat, answer, "Back"))[:2] == ["Yes, it expired", "No, something else"]
    assert titles(click(chat, answer, "Start over"))[:3] == FIRST_CHOICES


def test_a_handoff_end_offers_a_person_and_the_ticket_says_which_path(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    second = click(chat, troubleshoot(chat), "No, it isn't there")
    end = click(chat, second, "Yes, it was right")
    meta = end.says[0].meta
    assert meta["outcome"] == "handoff_offer" and meta["reason"] == "flow_failure"
    assert titles(end)[0] == "Talk to a person"
    assert chat.slots["handoff_offer_reason"] == "flow_failure"
    walk = Walk.from_slot(chat.slots["guide"])
    assert walk.end == "handoff" and walk.labels == ("No, it isn't there", "Yes, it was right")
    said = ["My reset email didn't arrive", "No, it isn't there", "Yes, it was right"]
    lines = [{"sender": "customer", "text": t} for t in [*said, "Talk to a person"]]
    summary = summarize(lines, "flow_failure", [], guide=walk.for_ticket())
    assert "No, it isn't there › Yes, it was right" in summary
    assert "“My reset email didn't arrive”" in summary  # the request, not a click, leads


def test_typed_numbers_words_back_and_start_over_walk_the_guide(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    troubleshoot(chat)
    assert text(chat.say("2")).startswith("Did you type the email address you signed up with?")
    assert "typo looks like success" in text(chat.say("i'm not sure"))
    assert text(chat.say("back")).startswith("Did you type the email address")
    assert titles(chat.say("start over"))[:3] == FIRST_CHOICES
    assert "contacts" in text(chat.say("yes, it's there"))


def test_something_else_typed_ends_the_walk_and_is_answered_as_usual(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    troubleshoot(chat)
    plan = chat.say("do you ship to canada?")
    assert plan.outcome == "article" and "guide" not in (plan.says[0].meta or {})
    assert chat.slots["guide"] is None
    assert chat.say("2").outcome != "guide"  # no walk to pick in any more


def test_a_button_of_a_guide_that_changed_says_so(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    stale = Turn(text="/guide_choice", intent="guide_choice", guide_step="reset-password|0|7.1")
    plan = decide_guide(stale, IndexKnowledge(kb, None, 0.0))
    assert "changed since I showed it" in text(plan) and plan.slots["guide"] is None
    assert chat.slots == {}
    assert parse_step_id("reset-password|0|2.1") == ("reset-password", 0, (2, 1))
    assert parse_step_id("nonsense") is None


def test_a_guide_split_over_two_chunks_is_read_whole() -> None:
    def section(chunk: int, body: str) -> Hit:
        return Hit("a", "A", "S", "s", "http://x/a", 0.0, "", body, chunk)

    head = section(1, "Intro.\n\n```guide\nDid it work?\n- Yes: Good.")
    tail = section(2, "- No: (handoff) A person helps.\n```\n\nAfter.")
    ((root, owner),) = guides_of([head, tail])
    assert [label for label, _ in root.choices] == ["Yes", "No"] and owner is head
    assert root.choices[1][1].handoff


def test_picking_an_article_whose_section_holds_a_guide_starts_it(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    chat.slots.update(
        clarify_options=["article:reset-password", "article:two-factor-authentication"],
        last_question="the password reset email never arrived",
    )
    plan = chat.say("the first one")
    assert plan.outcome == "guide" and titles(plan) == FIRST_CHOICES
    assert chat.slots["clarify_options"] is None and chat.slots["route"] == "done"


def test_a_typed_yes_or_no_picks_the_choice_that_starts_with_it(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    troubleshoot(chat)
    # the NLU reads these as affirm/deny: to a guide's question they are its choices
    asked = chat.say("no", "deny")
    assert asked.outcome == "guide"
    assert text(asked).startswith("Did you type the email address you signed up with?")
    assert "typo looks like success" in text(chat.say("nope", "deny"))
    chat.say("start over")
    assert "contacts" in text(chat.say("yep", "affirm"))
    chat.say("start over")
    assert text(chat.say("nope not there", "deny")).startswith("Did you type the email")
    assert "check your account" in text(chat.say("yes", "affirm"))
    assert chat.slots["guide"]["end"] == "handoff"


def test_a_yes_or_no_is_not_read_into_a_step_without_such_a_choice() -> None:
    from bot.dialogue.guides import _by_yes_or_no
    from bot.kb.guide import Step

    plain = Step("Which one?", 1, [("The red one", Step("Red.", 2)), ("The blue", Step("B.", 3))])
    assert _by_yes_or_no("yes", plain) is None
    both = Step("Did it?", 1, [("Yes, once", Step("A.", 2)), ("Yes, twice", Step("B.", 3))])
    assert _by_yes_or_no("yes", both) is None  # two choices say yes: ask, don't guess
    assert _by_yes_or_no("no, how do returns work", both) is None


def test_an_unclear_reply_asks_the_same_step_again_without_a_miss(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    troubleshoot(chat)
    chat.say("2")
    for said in ("hmm", "i don't know", "asdf qwerty"):
        plan = chat.say(said)
        assert plan.outcome == "guide", said
        assert text(plan).startswith("Sorry, I didn't catch that"), said
        assert "Did you type the email address" in text(plan)
        assert titles(plan)[:2] == ["No, or I'm not sure", "Yes, it was right"]
        assert not chat.slots.get("unresolved_turns")
        assert chat.slots["guide"]["path"] == [1]
    # still walking: the choice is taken
    assert "typo looks like success" in text(chat.say("no"))


def test_a_confident_new_question_or_a_person_still_leaves_the_walk(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    troubleshoot(chat)
    plan = chat.say("how long do refunds take?")
    assert plan.outcome == "article" and chat.slots["guide"] is None
    chat = DecisionChat(kb)
    troubleshoot(chat)
    assert chat.say("i want to talk to a real person").outcome == "handoff"


def test_the_ticket_of_a_walk_names_its_article_and_says_the_bot_tried_it(
    kb: KnowledgeBase,
) -> None:
    chat = DecisionChat(kb)
    plan = troubleshoot(chat)
    assert [t["id"] for t in chat.slots["kb_articles_tried"]] == ["reset-password"]
    assert chat.slots["last_article"] == "reset-password" and titles(plan) == FIRST_CHOICES
    click(chat, click(chat, plan, "No, it isn't there"), "Yes, it was right")
    walk = Walk.from_slot(chat.slots["guide"])
    assert GuideTaken(**walk.for_ticket()).title == "How do I reset my password?"  # the queue's
    lines = [{"sender": "customer", "text": "My reset email didn't arrive"}]
    summary = summarize(
        lines, "flow_failure", chat.slots["kb_articles_tried"], guide=walk.for_ticket()
    )
    assert "Guide “How do I reset my password? › The reset email never arrived”" in summary
    assert "Bot tried: How do I reset my password?" in summary
    assert "Bot offered no article" not in summary and "spam" not in summary


def test_help_search_snippets_read_a_guide_as_its_first_question(client) -> None:
    found = client.get("/help/search.json", params={"q": "reset email not in spam folder"}).json()
    (snippet,) = [r["snippet"] for r in found["results"] if r["id"] == "reset-password"]
    assert "spam, junk or promotions folder?" in snippet
    assert "it's there:" not in snippet and "- No," not in snippet and "(handoff)" not in snippet
    from bot.kb.guide import as_prose

    body = "Intro.\n\n```guide\nDid it work?\n- Yes: Good.\n- No: Bad.\n```\n\nAfter."
    assert as_prose(body) == "Intro.\n\nDid it work?\n\nAfter."
    assert as_prose("  - No: (handoff) A person.\n```\n\nAfter.") == "\nAfter."


def test_the_lead_in_is_the_prose_just_before_each_guide_of_a_section() -> None:
    def section(body: str, chunk: int) -> Hit:
        return Hit("a", "A", "S", "s", "/help/a", 1.0, "", body, chunk)

    guide = "```guide\nWorks?\n- Yes: Good.\n- No: (handoff) Ask us.\n```"
    body = f"### S\n\nFirst, read this.\n\n{guide}\n\nThen this one:\n\n{guide}"
    guides = guides_of([section(body, 7)])
    assert [lead_in(guides, i) for i in range(3)] == ["First, read this.", "Then this one:", ""]
    # a chunk that starts inside a guide split over two chunks skips that guide's choices
    split = "- No: (handoff) Ask us.\n```\n\nAfter it:\n\n" + guide
    assert lead_in(guides_of([section(split, 8)]), 0) == "After it:"
