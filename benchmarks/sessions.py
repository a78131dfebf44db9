"""Synthetic therapy sessions for benchmarks and runtime-agreement tests.

Our own procedural therapist/client sentences: templates filled from word lists, lengths varied,
no dataset text. ``make_sessions(folder, sessions, turns, seed)`` writes labelled-text transcripts.
"""

from __future__ import annotations

import random
from pathlib import Path

NAMES = ["Sam", "Alex", "Jo", "Chris", "Pat", "Robin", "Kim", "Lee"]
TOPICS = ["drinking", "smoking", "sleep", "work", "exercise", "money", "my sister", "the kids",
          "eating late", "gaming", "my temper", "school", "the pain in my back", "my mother"]
FEELINGS = ["tired", "stuck", "angry", "hopeful", "worried", "fed up", "nervous", "calmer", "guilty", "proud"]
TIMES = ["last week", "on Sunday", "most evenings", "after work", "this morning", "since the summer",
         "every weekend", "when things get busy"]
ACTIONS = ["cut down", "stop for a while", "talk to someone", "go for a walk", "keep a diary",
           "try the app", "set an alarm", "ask for help", "make a plan", "change nothing yet"]
FILLERS = ["", "Well, ", "I mean, ", "Honestly, ", "Okay. ", "Hmm. ", "You know, ", "Right. "]

THERAPIST = [
    "What brings you in today?",
    "How have things been with {topic} {time}?",
    "You're feeling {feeling} about {topic}.",
    "So on one hand you want to {action}, and on the other hand {topic} still helps you cope.",
    "What would it look like if you decided to {action}?",
    "It sounds like {topic} has been taking up a lot of your energy {time}.",
    "On a scale from one to ten, how important is it for you to {action}?",
    "You've already managed to {action} once, which took real effort.",
    "Would it be okay if I shared some information about {topic}?",
    "Many people in your situation find it helps to {action}, but you know your life best.",
    "Tell me more about {time}.",
    "Mm-hm.",
    "What worries you most about {topic}?",
    "You came here even though part of you feels {feeling}, and that matters.",
    "Let me make sure I understand: {topic} gets harder {time}, and then you feel {feeling}.",
    "What's one small step you could take before we meet again?",
]
CLIENT = [
    "I don't know, I guess I'm just {feeling}.",
    "{topic} has been a problem {time}, if I'm honest.",
    "I really want to {action}, I just never seem to manage it.",
    "I don't think {topic} is a big deal, everyone does it.",
    "My partner keeps telling me to {action} and it drives me mad.",
    "Yeah.",
    "I tried to {action} {time} and it went better than I expected.",
    "It's not like I can just {action}, there's too much going on with {topic}.",
    "Maybe. I could try to {action}, I suppose.",
    "I felt {feeling} {time}, and then I went straight back to {topic}.",
    "No, that's not really it.",
    "I'm going to {action}, I've made up my mind.",
    "When I think about {topic} I feel {feeling} and I want to change something, "
    "but then the week starts and I'm too {feeling} to do anything about it.",
    "Honestly I'm not sure why I'm here.",
]


def _fill(rng: random.Random, template: str) -> str:
    text = template.format(topic=rng.choice(TOPICS), time=rng.choice(TIMES), feeling=rng.choice(FEELINGS),
                           action=rng.choice(ACTIONS))
    text = rng.choice(FILLERS) + text
    # Vary lengths: sometimes a turn is two or three sentences.
    if rng.random() < 0.3:
        text += " " + _fill(rng, rng.choice(CLIENT if "I " in template else THERAPIST))
    return text[0].upper() + text[1:]


def make_sessions(folder: Path, sessions: int, turns: int, seed: int = 0) -> list[Path]:
    """Write ``sessions`` labelled-text transcripts of ``turns`` turns each into ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(sessions):
        client = rng.choice(NAMES)
        lines = [f"Therapist: Hi {client}, thanks for coming in."]
        for turn in range(1, turns):
            if turn % 2:
                lines.append("Client: " + _fill(rng, rng.choice(CLIENT)))
            else:
                lines.append("Therapist: " + _fill(rng, rng.choice(THERAPIST)))
        path = folder / f"session_{number:04d}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


