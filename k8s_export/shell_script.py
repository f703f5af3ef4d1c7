"""Read the ``python3 -m dynamo.X …`` launch out of a shell-wrapped DGD command.

Real DGDs (Dynamo's recipes, aiconfigurator's ``k8s_deploy.yaml``) often run
``command: [/bin/bash, -lc]`` with a script in ``args``: a preamble (``set -euo pipefail``,
``ulimit -l unlimited &&``, ``mkdir -p``, ``export VAR=…``), bash arrays
(``args=( … ); args+=( … )`` then ``"${args[@]}"``), a heredoc that writes the engine
config (``cat > FILE <<'YAML' … YAML``), ``VAR=value`` prefixes, backslash continuations
and finally ``exec python3 -m dynamo.X …``. ``read_script`` turns such a script into the
launch argv (variables expanded as the shell would), the files its heredocs write, the
environment it adds, and the preamble statements to write back on export.

Lexer: ``shlex`` (standard library, POSIX mode, ``punctuation_chars``) splits each logical
line into words and operators; the statement reader on top is ours. ``bashlex`` (the
maintained pure-Python bash parser on PyPI, last release 0.18 in 2023) was tried first: it
refuses bash arrays (``args=( … )`` is "unexpected token '('"), which recipes use for every
TensorRT-LLM launch, so it cannot read the scripts that matter; shlex reads them, and the
subset on top (straight-line statements, arrays, heredocs) is small enough to be exact.
Anything else (``if``/``for``/functions, pipes into the launch, command substitution in
its arguments) is refused with the line number and what was expected.

Known simplification: ``$`` inside single quotes is protected (marked before lexing), but
a word that mixes quoted and unquoted parts is written back double-quoted as a whole.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field

from .kube_vars import Undefined, has_shell_ref, shell_expand
from .written_words import record

OPERATORS = ";&|<>()"
SEPARATORS = {";", "&&", ";;"}
CONTROL = {
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
    "esac", "function", "{", "}", "select",
}  # fmt: skip
SENTINEL = "\x01"  # a `$` the shell would not expand (it was in single quotes)
PYTHONS = ("python", "python3")
SPLICE = ("[@]}", "[*]}")


class ScriptError(ValueError):
    """A script line trtl cannot read: its number, its text and what was expected."""

    def __init__(self, line: int, text: str, expected: str):
        super().__init__(f"line {line} `{text.strip()}`: {expected}")
        self.line, self.text, self.expected = line, text.strip(), expected


@dataclass
class Statement:
    """One preamble statement, written back before the launch on export."""

    text: str  # the statement as words, re-quoted
    chained: bool = False  # followed by && in the script
    file: str | None = None  # a heredoc writing this file: regenerated on export


@dataclass
class ScriptLaunch:
    """What a shell-wrapped command runs."""

    argv: list[str]  # python3 -m MODULE ARGS, expanded
    written: dict[str, str] = field(default_factory=dict)  # expanded word -> as written
    env: dict[str, str] = field(default_factory=dict)  # VAR=value prefixes and exports
    prefix: list[str] = field(default_factory=list)  # names given as VAR=value prefixes
    exported: list[str] = field(default_factory=list)  # names the preamble exports
    preamble: list[Statement] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # heredoc path -> content
    exec_: bool = False
    line: str = ""  # the launch line's arguments as written (script_layout.launch_text)


@dataclass
class _Line:
    number: int
    text: str
    words: list[str]
    heredoc: str | None = None  # body of the heredoc this line starts


def read_script(script: str, env: dict[str, str]) -> ScriptLaunch:
    """The launch of ``script``, with ``env`` as the shell's starting variables.

    Raises ScriptError naming the line trtl cannot read.
    """
    variables = dict(env)
    arrays: dict[str, list[tuple[str, str]]] = {}
    out = ScriptLaunch(argv=[])
    for line in _logical_lines(script):
        for words, chained in _statements(line):
            if out.argv:
                raise ScriptError(line.number, line.text, "nothing after the launch line")
            if _launch_start(words) is not None:
                _launch(out, words, line, variables, arrays)
            else:
                _preamble(out, words, chained, line, variables, arrays)
    if not out.argv:
        raise ScriptError(0, script.strip().splitlines()[-1] if script.strip() else "",
                          "a `python3 -m dynamo.<engine> …` line")  # fmt: skip
    return out


def _logical_lines(script: str) -> list[_Line]:
    """Physical lines joined across continuations, open quotes and open parentheses."""
    physical = script.split("\n")
    lines: list[_Line] = []
    i = 0
    while i < len(physical):
        start, text = i, physical[i]
        i += 1
        while True:
            joined = protect(text).replace("\\\n", "")
            words = lex(joined)
            closed = words is not None and words.count("(") <= words.count(")")
            if closed and not text.endswith("\\"):
                break
            if i >= len(physical):
                raise ScriptError(start + 1, text, "the line to be complete (a quote, "
                                  "parenthesis or continuation is left open)")  # fmt: skip
            text += "\n" + physical[i]
            i += 1
        line = _Line(start + 1, text, words)
        if "<<" in words:
            i = _heredoc(line, physical, i)
        if words:
            lines.append(line)
    return lines


# Operators of more than one character; shlex runs any operator characters together
# (`args=( … );` gives `);`), so a run is cut into these, or single characters.
_LONG_OPERATORS = ("&&", "||", ";;", "<<", ">>", ">&", "<&", "&>", ">|")


def lex(text: str) -> list[str] | None:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=OPERATORS)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # an open quote: the line goes on
        return None
    return [part for word in words for part in _operators(word)]


def _operators(word: str) -> list[str]:
    """A run of operator characters cut into operators; any other word as it is."""
    if not word or not set(word) <= set(OPERATORS) or word in _LONG_OPERATORS:
        return [word]
    parts = []
    while word:
        size = 2 if word[:2] in _LONG_OPERATORS else 1
        parts.append(word[:size])
        word = word[size:]
    return parts


def protect(text: str) -> str:
    """``text`` with each ``$`` inside single quotes replaced by SENTINEL."""
    out, quote, escaped = [], None, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "$" and quote == "'":
            ch = SENTINEL
        out.append(ch)
    return "".join(out)


def _heredoc(line: _Line, physical: list[str], i: int) -> int:
    at = line.words.index("<<")
    if at + 1 >= len(line.words):
        raise ScriptError(line.number, line.text, "a heredoc delimiter after <<")
    delim = line.words[at + 1]
    strip_tabs = delim.startswith("-")
    delim = delim.lstrip("-")
    body: list[str] = []
    while i < len(physical):
        text = physical[i].lstrip("\t") if strip_tabs else physical[i]
        i += 1
        if text.strip() == delim:
            line.heredoc = "".join(f"{b}\n" for b in body)
            if _quoted_delimiter(line.text):  # <<'YAML': the body is taken as written
                line.heredoc = line.heredoc.replace("$", SENTINEL)
            return i
        body.append(text)
    raise ScriptError(line.number, line.text, f"the heredoc to end with a line `{delim}`")


def _quoted_delimiter(text: str) -> bool:
    after = text.split("<<", 1)[1].lstrip("-").lstrip()
    return after[:1] in ("'", '"')


def _statements(line: _Line) -> list[tuple[list[str], bool]]:
    """The line's statements, split at ``;`` and ``&&``, each with whether ``&&`` follows."""
    out: list[tuple[list[str], bool]] = []
    current: list[str] = []
    for word in line.words:
        if word in SEPARATORS or word == "&&":
            if current:
                out.append((current, word == "&&"))
            current = []
        else:
            current.append(word)
    if current:
        out.append((current, False))
    if line.heredoc is not None:
        # The heredoc's body travels with the statement that names it.
        out = [([*w, SENTINEL + "heredoc", line.heredoc] if "<<" in w else w, c)
               for w, c in out]  # fmt: skip
    for words, _ in out:
        function = words[1:3] == ["(", ")"] and not words[0].endswith("=")  # not NAME=()
        if words[0] in CONTROL or words[0].endswith("()") or function:
            raise ScriptError(line.number, line.text, "straight-line statements (trtl reads "
                              "no if/for/while/case or functions)")  # fmt: skip
    return out


def _launch_start(words: list[str]) -> int | None:
    """Index of the interpreter word when ``words`` runs ``python -m dynamo.…``."""
    i = 0
    while i < len(words) and (_assignment(words[i]) or words[i] == "exec"):
        i += 1
    python = i + 2 < len(words) and words[i].rsplit("/", 1)[-1].startswith(PYTHONS)
    if python and words[i + 1] == "-m" and words[i + 2].startswith("dynamo."):
        return i
    return None


def _assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def _launch(out: ScriptLaunch, words, line: _Line, variables, arrays) -> None:
    start = _launch_start(words)
    assert start is not None
    out.exec_ = "exec" in words[:start]
    for word in words[:start]:
        if word == "exec":
            continue
        name, _, value = word.partition("=")
        out.env[name] = _expand(value, variables, line)
        out.prefix.append(name)
    _no_substitution(words, line)
    argv: list[str] = []
    raws: list[str | None] = []
    for word in words[start:]:
        if word in OPERATORS or set(word) <= set(OPERATORS):
            raise ScriptError(line.number, line.text, "the launch to be a plain command "
                              f"(no {word} redirection or pipe)")  # fmt: skip
        for raw, value in _words(word, variables, arrays, line):
            argv.append(value)
            raw = raw.replace(SENTINEL, "$")
            raws.append(raw if raw != value else None)
    out.written = record(argv, raws)
    out.argv = argv
    breaks = _breaks(line, words)
    out.line = _layout().launch_text(words[start + 3 :], breaks[start + 3 :])


# $@, $*, $1 …, $#, $?, $$, $!: none has a value trtl can know (a single-quoted $ is SENTINEL).
_SPECIAL = re.compile(r"\$\{?[@*#?!$0-9]")


def _words(word: str, variables, arrays, line: _Line) -> list[tuple[str, str]]:
    """(as written, expanded) for one word; an array splice gives each element."""
    if word.startswith("${") and word.endswith(SPLICE):
        name = word[2:-4]
        if name not in arrays:
            raise ScriptError(line.number, line.text, f"the array {name} to be set before")
        return list(arrays[name])
    if "$(" in word or "`" in word:
        raise ScriptError(line.number, line.text, "no command substitution in the launch")
    if _SPECIAL.search(word):
        raise ScriptError(line.number, line.text, "no positional or special parameters "
                          "($@, $1 …): trtl does not know what the script is run with")  # fmt: skip
    return [(word, _expand(word, variables, line))]


def _no_substitution(words: list[str], line: _Line) -> None:
    """The lexer splits ``$(cmd)`` at the parenthesis: ``$`` then ``(``."""
    for word, after in itertools.pairwise(words):
        if word.endswith("$") and after.startswith("("):
            raise ScriptError(line.number, line.text, "no command substitution in the launch")


def _expand(word: str, variables: dict[str, str], line: _Line) -> str:
    try:
        return shell_expand(word, variables).replace(SENTINEL, "$")
    except Undefined as exc:
        raise ScriptError(line.number, line.text, f"${exc.name} to be set in the container's "
                          "env or earlier in the script") from None  # fmt: skip


def _preamble(out: ScriptLaunch, words, chained, line: _Line, variables, arrays) -> None:
    if SENTINEL + "heredoc" in words:
        at = words.index(SENTINEL + "heredoc")
        body, words = words[at + 1], words[:at]
        path = _heredoc_target(words)
        if path is None:
            raise ScriptError(line.number, line.text, "a heredoc written to a file "
                              "(cat > FILE <<'EOF')")  # fmt: skip
        path = _expand(path, variables, line)
        out.files[path] = _expand(body, variables, line)
        delim = words[words.index("<<") + 1].lstrip("-") if "<<" in words else "EOF"
        # Written back as cat with a quoted delimiter: the body is then taken as written.
        out.preamble.append(Statement(f"cat > {quote(path)} <<'{delim}'", chained, file=path))
        return
    if len(words) >= 2 and words[0].endswith(("=", "+=")) and words[1] == "(":
        _array(words, line, variables, arrays)
        # Kept as a statement: the export writes the array back, with the profile's values.
        text = _layout().array_statement(words, _breaks(line, words))
        out.preamble.append(Statement(text, chained))
        return
    if all(_assignment(w) for w in words):
        for w in words:
            name, _, value = w.partition("=")
            variables[name] = _expand(value, variables, line)
    elif words[0] == "export":
        for w in words[1:]:
            name, eq, value = w.partition("=")
            if eq:
                variables[name] = _expand(value, variables, line)
            if name in variables:
                out.env[name] = variables[name]
                out.exported.append(name)
    out.preamble.append(Statement(_join(words), chained))


def _layout():
    from . import script_layout  # it reads scripts with this module's lexer

    return script_layout


def _breaks(line: _Line, words: list[str]) -> list[bool]:
    """For each of ``words`` (one statement of ``line``), whether a line break came before."""
    found, breaks = _layout().lex_layout(line.text)
    n = len(words)
    at = next((i for i in range(len(found) - n + 1) if found[i : i + n] == words), None)
    return [False] * n if at is None else breaks[at : at + n]


def _heredoc_target(words: list[str]) -> str | None:
    """FILE of ``cat > FILE << D`` / ``cat << D > FILE`` / ``tee FILE << D``."""
    if words[0] == "cat" and ">" in words:
        at = words.index(">")
        return words[at + 1] if at + 1 < len(words) else None
    if words[0] == "tee" and len(words) >= 2 and words[1] != "<<":
        return words[1]
    return None


def _array(words: list[str], line: _Line, variables, arrays) -> None:
    head = words[0]
    append = head.endswith("+=")
    name = head[: -2 if append else -1]
    if words[-1] != ")" or not name.isidentifier():
        raise ScriptError(line.number, line.text, "an array assignment NAME=( … )")
    _no_substitution(words[2:-1], line)
    items: list[tuple[str, str]] = []
    for word in words[2:-1]:
        items.extend(_words(word, variables, arrays, line))
    arrays[name] = [*(arrays.get(name, []) if append else []), *items]


def _join(words: list[str]) -> str:
    """Words back into shell text; operators bare, words with variables double-quoted."""
    return " ".join(quote(w) if w not in OPERATORS and not set(w) <= set(OPERATORS) else w
                    for w in words)  # fmt: skip


def quote(word: str) -> str:
    """One word as shell text: variables stay variables, everything else literal."""
    if SENTINEL in word:
        return shlex.quote(word.replace(SENTINEL, "$"))
    if has_shell_ref(word) or "$(" in word:
        escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
        return f'"{escaped}"'
    return shlex.quote(word)
