"""The export's script in the shape it was imported in: bash arrays, continuations, order.

On import ``shell_script`` keeps each array statement (``args=( … )``, ``args+=( … )``) in
``k8s.launch.preamble`` and the launch line's own arguments in ``k8s.launch.line``, as
written. The export's arguments come from the profile (the engine table, less what the
original lacked, plus what it had that trtl does not pass locally); here each of them goes
back to the statement that held its flag in the original, in the original's order, so the
script comes back as it was where the user changed nothing. A flag the original did not
have goes at the end of the launch line; a flag the profile no longer passes is left out
of its statement. Arrays the launch does not splice are left as written.

The statements are trtl's own shell text (written by ``shell_script``), lexed again here
with the same lexer. A multi-line array keeps one flag per line; a launch line written
with backslash continuations keeps one flag per continued line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .drift import aliases_of, flag_names, groups
from .shell_script import SPLICE, _lex, _protect, quote

CONTINUED = " \\\n  "


@dataclass
class _Slot:
    """A statement that holds launch arguments: an array assignment, or the launch line."""

    items: list[list[str]]  # groups of words as lexed: [flag, values…] or a fixed word
    head: str = ""  # NAME= or NAME+= of an array
    multiline: bool = False
    chained: bool = False
    placed: dict[int, list[str]] = field(default_factory=dict)  # group index -> new group


def _splice(word: str) -> str | None:
    """NAME of a ``${NAME[@]}`` word, else None."""
    if word.startswith("${") and word.endswith(SPLICE):
        return word[2:-4]
    return None


def _flag(word: str) -> str | None:
    names = flag_names([word]) if _splice(word) is None else []
    return names[0] if names else None


def _groups(words: list[str]) -> list[list[str]]:
    """Words cut into [flag, values…] groups; a splice or a leading value stands alone."""
    out: list[list[str]] = []
    for word in words:
        alone = _splice(word) is not None or _flag(word) is not None
        if alone or not out or _splice(out[-1][0]) is not None or _flag(out[-1][0]) is None:
            out.append([word])
        else:
            out[-1].append(word)
    return out


def _words(text: str) -> list[str]:
    return _lex(_protect(text)) or []


def _array(text: str) -> _Slot | None:
    """The slot of an array statement, None for any other statement."""
    words = _words(text)
    if len(words) < 3 or not words[0].endswith("=") or words[1] != "(" or ")" not in words:
        return None
    items = words[2 : words.index(")")]
    return _Slot(_groups(items), words[0], "\n" in text, words[-1] == "&&")


def _spliced(slot: _Slot) -> set[str]:
    return {name for g in slot.items if (name := _splice(g[0])) is not None}


def arrange(
    preamble: list[str], line: str | None, args: list[str], word: Callable[[str], str]
) -> tuple[list[str], str]:
    """(the preamble with each spliced array's arguments from ``args``, the launch line's
    arguments as text, starting with its separator). ``word`` writes one value as shell text.
    """
    launch = _Slot(_groups(_words(line or "")), multiline=bool(line and "\\\n" in line))
    arrays = {i: s for i, text in enumerate(preamble) if (s := _array(text)) is not None}
    used = _spliced(launch)
    for i in sorted(arrays, reverse=True):  # an array may splice one defined before it
        if arrays[i].head.rstrip("+=") in used:
            used |= _spliced(arrays[i])
    slots = [s for s in arrays.values() if s.head.rstrip("+=") in used] + [launch]
    extra: list[list[str]] = []
    for new in groups(args):
        names = flag_names(new[:1])
        if not names or not _place(slots, aliases_of(names[0]), new):
            extra.append(new)
    out = list(preamble)
    for i, slot in arrays.items():
        if slot in slots:
            out[i] = _array_text(slot, word)
    # The flags the original did not have: at the end of the launch line.
    texts = _texts(launch, word) + [" ".join(word(a) for a in g) for g in extra]
    if not texts:
        return out, ""
    sep = CONTINUED if launch.multiline else " "
    return out, sep + sep.join(texts)


def _place(slots: list[_Slot], names: set[str], new: list[str]) -> bool:
    for slot in slots:
        for i, group in enumerate(slot.items):
            flag = _flag(group[0])
            if flag is not None and i not in slot.placed and aliases_of(flag) & names:
                slot.placed[i] = new
                return True
    return False


def _texts(slot: _Slot, word: Callable[[str], str]) -> list[str]:
    """Each group of the slot as shell text: fixed words as written, flags from the profile."""
    out = []
    for i, group in enumerate(slot.items):
        if i in slot.placed:
            out.append(" ".join(word(a) for a in slot.placed[i]))
        elif _splice(group[0]) is not None:
            out.append(f'"{group[0]}"')
        elif _flag(group[0]) is None:  # a value that stood alone: kept as written
            out.append(" ".join(quote(w) for w in group))
        # a flag the profile no longer passes: left out
    return out


def _array_text(slot: _Slot, word: Callable[[str], str]) -> str:
    texts = _texts(slot, word)
    if slot.multiline:
        body = "".join(f"  {t}\n" for t in texts)
        text = f"{slot.head}(\n{body})"
    else:
        text = f"{slot.head}({' '.join(texts)})"
    return text + (" &&" if slot.chained else "")


def _as_read(slot: _Slot) -> _Slot:
    slot.placed = {i: g for i, g in enumerate(slot.items) if _flag(g[0]) is not None}
    return slot


def array_statement(head: str, words: list[str], multiline: bool) -> str:
    """An array assignment as read (``words`` as lexed) in the shell text ``arrange`` reads."""
    return _array_text(_as_read(_Slot(_groups(words), head, multiline)), quote)


def launch_text(words: list[str], continued: bool) -> str:
    """The launch line's arguments as read, as shell text (continued lines kept)."""
    texts = _texts(_as_read(_Slot(_groups(words))), quote)
    return (CONTINUED if continued else " ").join(texts)
