"""The export's script in the shape it was imported in: bash arrays, line breaks, order.

On import ``shell_script`` keeps each array statement (``args=( … )``, ``args+=( … )``) in
``k8s.launch.preamble`` and the launch line's own arguments in ``k8s.launch.line``, as
written. The export's arguments come from the profile (the engine table, less what the
original lacked, plus what it had that trtl does not pass locally); here each of them goes
back to the statement that held its flag in the original, in the original's order and on
its original line (a newline in an array, a backslash continuation on the launch line), so
the script comes back as it was where the user changed nothing. A flag the original did
not have goes at the end of the launch line; a flag the profile no longer passes is left
out of its statement. Arrays the launch does not splice are left as written.

The statements are shell text written by this module, lexed again with ``shell_script``'s
lexer. Known simplification: a line break between a flag and its value is not kept.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from .drift import aliases_of, flag_names, groups
from .shell_script import SENTINEL, SPLICE, lex, protect, quote

# Writes one value (after the flag it follows, if any) as shell text.
Word = Callable[[str, "str | None"], str]
CONTINUED = " \\\n  "  # between two arguments on the launch line
BREAK = "\x02"  # stands for a line break while lexing


@dataclass
class _Slot:
    """A statement that holds launch arguments: an array assignment, or the launch line."""

    items: list[list[str]]  # groups of words as lexed: [flag, values…] or a fixed word
    breaks: list[bool]  # per group: a line break before it
    head: str = ""  # NAME= or NAME+= of an array
    close: bool = False  # a line break before the array's )
    chained: bool = False  # && follows
    placed: dict[int, list[str]] = field(default_factory=dict)  # group index -> new group


def lex_layout(text: str) -> tuple[list[str], list[bool]]:
    """The words of ``text`` and, for each, whether a line break came before it.

    Where a break falls inside a quoted word the layout is not read (no breaks).
    """
    protected = protect(text)
    plain = lex(protected.replace("\\\n", "")) or []
    # A newline stays: it ends a comment.
    marked = lex(protected.replace("\\\n", f" {BREAK} ").replace("\n", f"\n{BREAK} "))
    if marked is None or [w for w in marked if w != BREAK] != plain:
        return plain, [False] * len(plain)
    breaks, pending = [], False
    for word in marked:
        if word == BREAK:
            pending = True
        else:
            breaks.append(pending)
            pending = False
    return plain, breaks


def _splice(word: str) -> str | None:
    """NAME of a ``${NAME[@]}`` word, else None."""
    if word.startswith("${") and word.endswith(SPLICE):
        return word[2:-4]
    return None


def _flag(word: str) -> str | None:
    names = flag_names([word]) if _splice(word) is None else []
    return names[0] if names else None


def _slot(words: list[str], breaks: list[bool], **kw) -> _Slot:
    """Words cut into [flag, values…] groups; a splice or a leading value stands alone."""
    items: list[list[str]] = []
    starts: list[bool] = []
    for word, brk in zip(words, breaks, strict=True):
        alone = _splice(word) is not None or _flag(word) is not None
        if alone or not items or _splice(items[-1][0]) is not None or _flag(items[-1][0]) is None:
            items.append([word])
            starts.append(brk)
        else:
            items[-1].append(word)
    return _Slot(items, starts, **kw)


def _array(text: str) -> _Slot | None:
    """The slot of an array statement, None for any other statement."""
    words, breaks = lex_layout(text)
    if len(words) < 3 or not words[0].endswith("=") or words[1] != "(" or ")" not in words:
        return None
    end = words.index(")")
    return _slot(words[2:end], breaks[2:end], head=words[0], close=breaks[end],
                 chained=words[-1] == "&&")  # fmt: skip


def _spliced(slot: _Slot) -> set[str]:
    return {name for g in slot.items if (name := _splice(g[0])) is not None}


def arrange(
    preamble: list[str], line: str | None, args: list[str], word: Word
) -> tuple[list[str], str]:
    """(the preamble with each spliced array's arguments from ``args``, the launch line's
    arguments as text, starting with its separator). ``word`` writes one value as shell text.
    """
    launch = _slot(*lex_layout(line or ""))
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
    continued = any(launch.breaks)
    # Their values are the profile's, literal: none was written as a variable.
    texts = _texts(launch, word) + [(continued, " ".join(map(shlex.quote, g))) for g in extra]
    return out, "".join((CONTINUED if brk else " ") + text for brk, text in texts)


def _place(slots: list[_Slot], names: set[str], new: list[str]) -> bool:
    for slot in slots:
        for i, group in enumerate(slot.items):
            flag = _flag(group[0])
            if flag is not None and i not in slot.placed and aliases_of(flag) & names:
                slot.placed[i] = new
                return True
    return False


def _texts(slot: _Slot, word: Word) -> list[tuple[bool, str]]:
    """(break before, shell text) of each group: fixed words as written, flags as placed."""
    out = []
    for i, group in enumerate(slot.items):
        if i in slot.placed:
            new = slot.placed[i]
            text = " ".join(_value(a, group[j] if j < len(group) else None,
                                   new[j - 1] if j else None, word)
                            for j, a in enumerate(new))  # fmt: skip
        elif _splice(group[0]) is not None:
            text = f'"{group[0]}"'
        elif _flag(group[0]) is None:  # a value that stood alone: kept as written
            text = " ".join(quote(w) for w in group)
        else:
            continue  # a flag the profile no longer passes: left out
        out.append((slot.breaks[i], text))
    return out


def _value(value: str, original: str | None, flag: str | None, word: Word) -> str:
    """A placed word as shell text: as a variable only where the original word in that
    place was one (another flag that merely has the same value stays literal)."""
    if original is not None and "$" not in original and SENTINEL not in original:
        return shlex.quote(value)
    return word(value, flag)


def _array_text(slot: _Slot, word: Word) -> str:
    body = "".join(
        ("\n  " if brk else " " if i else "") + text
        for i, (brk, text) in enumerate(_texts(slot, word))
    )
    close = "\n" if slot.close else ""
    return f"{slot.head}({body}{close})" + (" &&" if slot.chained else "")


def _as_read(slot: _Slot) -> _Slot:
    slot.placed = {i: g for i, g in enumerate(slot.items) if _flag(g[0]) is not None}
    return slot


def _as_is(word: str, flag: str | None = None) -> str:
    return quote(word)


def array_statement(words: list[str], breaks: list[bool]) -> str:
    """An array assignment as read (``NAME=`` ``(`` … ``)``), as ``arrange`` reads it."""
    end = words.index(")")
    slot = _slot(words[2:end], breaks[2:end], head=words[0], close=breaks[end])
    return _array_text(_as_read(slot), _as_is)


def launch_text(words: list[str], breaks: list[bool]) -> str:
    """The launch line's arguments as read, as ``arrange`` reads them (no leading space)."""
    texts = _texts(_as_read(_slot(words, breaks)), _as_is)
    return "".join((CONTINUED if brk else " ") + text for brk, text in texts)[1:]
