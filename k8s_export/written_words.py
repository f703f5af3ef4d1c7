"""Arguments the original wrote as a variable: where each goes back on export.

``k8s.launch.written`` maps an argument's value to the text it was written as
(``{Qwen/Qwen3-0.6B: ${MODEL_PATH}}``). Where the same value also stands elsewhere written
otherwise (``--tensor-parallel-size "${TP}" … --seed 1``, TP being 1), a key by value alone
would write the variable in both places, and a later change of TP would change the seed
in the cluster too: those occurrences are keyed ``FLAG VALUE`` by the flag before them.
A word ``--model="$M"`` is kept whole, and its value also as ``--model VALUE``: the
profile passes flag and value as two words.
"""

from __future__ import annotations


def qualified(flag: str, value: str) -> str:
    # A space: FLAG=VALUE is how a word `--flag=value` is keyed itself.
    return f"{flag} {value}"


def record(argv: list[str], raws: list[str | None]) -> dict[str, str]:
    """The ``written`` map of ``argv``; ``raws[i]`` is argv[i] as written, or None where
    it was written as its value."""
    seen: dict[str, set[str | None]] = {}
    for value, raw in zip(argv, raws, strict=True):
        seen.setdefault(value, set()).add(raw)
    out: dict[str, str] = {}
    for i, (value, raw) in enumerate(zip(argv, raws, strict=True)):
        if raw is None:
            continue
        if seen[value] == {raw}:
            out[value] = raw
        elif i and argv[i - 1].startswith("-"):
            out[qualified(argv[i - 1], value)] = raw
        # else: written literally on export (the value is the same in the cluster)
        flag, eq, rest = value.partition("=")
        raw_flag, raw_eq, raw_rest = raw.partition("=")
        if flag.startswith("-") and eq and raw_eq and raw_flag == flag and raw_rest != rest:
            out[qualified(flag, rest)] = raw_rest
    return out


def lookup(written: dict[str, str], value: str, flag: str | None = None) -> str | None:
    """How ``value`` (after ``flag``) was written, or None where it was written as is."""
    if flag is not None and flag.startswith("-"):
        raw = written.get(qualified(flag, value))
        if raw is not None:
            return raw
    return written.get(value)
