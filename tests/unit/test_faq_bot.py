"""examples/faq_bot.py's answers, without a server: keywords (several words too) pick the
entry with the most hits; asking for a person, or nothing matching, hands off."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faq_bot", EXAMPLES / "faq_bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["faq_bot"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_answers_and_handoffs() -> None:
    bot = load()
    faq = bot.Faq.load(EXAMPLES / "faq.json")
    assert bot.reply_to(faq, "How long does SHIPPING take?").text.startswith("We ship within")
    assert bot.reply_to(faq, "I can't log in").text.startswith("To reset your password")
    assert bot.reply_to(faq, "Can I return it for a refund?").text.startswith("You can return")
    assert bot.reply_to(faq, "I want to talk to a person").reason == "asked_for_human"
    assert bot.reply_to(faq, "Do you sell gift cards?").reason == "no_match"
    note = bot.handoff_note("no_match", [f"q{i}" for i in range(7)])
    assert note.startswith("FAQ bot: the visitor asked what the FAQ does not cover.")
    assert "q1”" not in note and "“q2”" in note and "“q6”" in note  # the last five
