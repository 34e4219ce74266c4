"""Numbers in prose that cannot go stale (issue 8, STYLE.md "Claims").

A number typed into a markdown cell goes stale the next time the notebook runs. So every number in a
notebook's markdown that looks like it comes from a run must appear in that notebook's code or outputs
(text/plain, text/markdown, text/html and streams); better still, render the sentence from the variables with
``display(Markdown(f"..."))``. README.md and Approach.md are held to the same rule against
bench/results.json, bench/results.md and every notebook's code and outputs.

What counts as "looks like it comes from a run":
* decimals (0.961, 0.5) and scientific notation (3e-3);
* numbers with thousands separators (161,842);
* percentages (99.4%, 96 percent);
* numbers with a unit of time or speed (21 s, 3.5 ms, 2 minutes, 12x, 12×, 960 seq/s);
* integers of 100 or more that are not years (a year is 1900-2099 after a name, "et al." or "(", or before
  ")" or a capitalised word: "Gers et al. 2000", "(1997)", "the 1997 LSTM").
Integers under 100 without a unit or % ("1 to 50", "step 3", "10 symbols") are not checked.

Not read: maths ($...$, $$...$$), code (`...` and fenced blocks), HTML comments and tags, URLs (link targets
and bare), the numbering of a heading ("## 3.2 Masking"), and digits inside words, file names or versions
(c65, 04_fast, 2.21.0).

How a prose number matches a number in the sources (both sides read the same way):
* by value, so 161,842 = 161842 = 161_842, 0.50 = 0.5, 21 s = 21.0, 3e-3 = 0.003;
* a percentage also as a fraction: 99.4% = 0.994; and a source "99.4%" also as 0.994;
* a number with a unit of time or speed only where the source gives it such a unit ("21.0 s", "12.3x",
  "960 seq/s") or stands in a line, or under a table header, about that unit ("seconds", "time", "min",
  "speed-up", "faster", ...): "50 s of training" is not matched by "after step 50", "3 minutes" not by "3 s";
* rounded: a prose number with at least two significant digits matches a source number that rounds to it at
  the prose's precision (0.96 matches 0.9612; 14.6 s matches 14.577). One-digit numbers (0.5, 5x) must
  match by value, because nearly anything rounds to them.

Exceptions, for numbers that do not come from a run (literature values with their citation, arithmetic,
constants of the task). Keep them few; each says why:
* next to the sentence: an HTML comment in the markdown cell (or README/Approach paragraph file),
  ``<!-- prose-numbers: 166 28.45 | 50 symbols x log2(10) bits; BLEU reported by Bahdanau et al. 2015 -->``,
  lists the numbers as written, then "|" and the reason (required). A listed number that the cell does not
  contain fails the test, so a marker cannot outlive its sentence.
* in this file: ``ALLOWED``, per file, for numbers that recur in several cells.

A failure names the file, the cell index (0-based, as in the notebook's JSON), the number and its sentence.
"""
from __future__ import annotations

import bisect
import json
import pathlib
import re
from decimal import Decimal

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
DOCUMENTS = [ROOT / "README.md", ROOT / "Approach.md"]
BENCH = [ROOT / "bench" / "results.json", ROOT / "bench" / "results.md"]
OUTPUT_MIMES = ("text/plain", "text/markdown", "text/html")

# (file name, number as written, with its unit) -> why it needs no run. Short on purpose: prefer the in-cell marker.
ALLOWED: dict[tuple[str, str], str] = {
    ("README.md", "30,000"): "a target the project set for decoding speed (sequences/s), not a measurement",
}

# ------------------------------------------------------------------------------------------ reading prose
_MASKED = [
    re.compile(r"```.*?```", re.S),                  # fenced code
    re.compile(r"<!--.*?-->", re.S),                 # HTML comments (markers are read before masking)
    re.compile(r"\$\$.*?\$\$", re.S),                # display maths
    re.compile(r"(?<![\\$])\$[^$]+?\$", re.S),       # inline maths
    re.compile(r"`[^`]*`"),                          # inline code
    re.compile(r"\]\([^)]*\)"),                      # link targets: [text](url)
    re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M),   # reference links: [name]: url
    re.compile(r"<[^>\n]*>"),                        # HTML tags and <autolinks>
    re.compile(r"\bhttps?://\S+"),                   # bare URLs
    re.compile(r"^#{1,6}[ \t]+\d+(?:\.\d+)*\.?", re.M),  # a heading's numbering: "## 3.2 Masking", "# 04 ·"
]
_MARKER = re.compile(r"<!--\s*prose-numbers:(?P<numbers>[^|]*?)\|(?P<why>.*?)-->", re.S)

# A number in prose: thousands-grouped, decimal or integer, with an optional exponent. Not inside a word, a
# file name, a version, another number or a name such as SHA-256.
_PROSE_NUMBER = re.compile(r"(?<![\w.,/\\])(?<![A-Za-z]-)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                           r"(?P<exp>[eE][-+−]?\d+)?")
_PERCENT = re.compile(r"\s?(?:%|percent\b)")
# Units after a number in prose (and in the sources), by kind: times are kept apart by scale, so that "3 minutes"
# is not matched by "3 s".
_UNITS = {
    "ms": re.compile(r"\s?(?:ms|µs|μs|us|ns|milliseconds?)\b"),
    "s": re.compile(r"\s?(?:s|secs?|seconds?)\b"),
    "min": re.compile(r"\s?(?:mins?|minutes?)\b"),
    "h": re.compile(r"\s?(?:h|hrs?|hours?)\b"),
    "speed": re.compile(r"\s?(?:seq(?:uence)?s?|tokens?|steps?|rows?|samples?|examples?|it)\s?/\s?s\b"
                        r"|×(?!\s?[\d(])|x(?![\w.(])|\s×(?=\s?(?:faster|slower|speed|more|fewer|less)\b)"),
}
_YEAR_BEFORE = re.compile(r"(?:et al\.?,?|[A-Z][a-zà-ÿ'-]+,?|\(|&)\s*$")
_YEAR_AFTER = re.compile(r"\)|[a-z]?\s+[A-Z]|\s+(?:paper|version|edition|model|cell|article)\b")


class ProseNumber:
    """One number in prose: as written, its value, how many decimals it has, whether it is a percentage, and
    the kind of its unit ("ms", "s", "min", "h", "speed" or None)."""

    def __init__(self, written, value, places, percent, kind, start, end):
        self.written, self.value, self.places, self.percent, self.kind = written, value, places, percent, kind
        self.start, self.end = start, end

    def __repr__(self):
        return f"ProseNumber({self.written!r})"


def _mask(text):
    """``text`` with every unread region blanked out (same length, so positions still point into ``text``)."""
    for pattern in _MASKED:
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return text


def _decimal(number, exponent=None):
    value = Decimal(number.replace(",", "").replace("_", ""))
    if exponent:
        value = value.scaleb(int(exponent[1:].replace("−", "-")))
    return value


def _places(number, exponent=None):
    """Decimals of the last written digit: 14.6 -> 1, 192 -> 0, 3e-3 -> 3."""
    fraction = number.split(".")[1] if "." in number else ""
    return len(fraction) - (int(exponent[1:].replace("−", "-")) if exponent else 0)


def prose_numbers(text):
    """The numbers in a piece of markdown that look like they come from a run."""
    masked = _mask(text)
    found = []
    for match in _PROSE_NUMBER.finditer(masked):
        number, exponent = match.group("num"), match.group("exp")
        after = masked[match.end():match.end() + 24]
        if re.match(r"\.\d", after):                      # a version: 2.21.0
            continue
        percent = _PERCENT.match(after)
        kind, unit = next(((kind, m) for kind, unit in _UNITS.items() if (m := unit.match(after))), (None, None))
        if not (percent or unit) and re.match(r"[^\W\d]", after):  # a word or identifier: 2D, 3rd, 2014a
            continue
        value = _decimal(number, exponent)
        thousands = "," in number
        decimal = "." in number or exponent
        if not (decimal or thousands or percent or unit):
            before = masked[max(0, match.start() - 40):match.start()]
            year = _YEAR_BEFORE.search(before) or _YEAR_AFTER.match(after)
            if value < 100 or (1900 <= value <= 2099 and year):
                continue
        end = match.end() + (percent.end() if percent else unit.end() if unit else 0)
        found.append(ProseNumber(text[match.start():end].strip(), value, _places(number, exponent),
                                 bool(percent), None if percent else kind, match.start(), end))
    return found


def markers(text):
    """{value: (as written, reason)} from the ``<!-- prose-numbers: ... | why -->`` markers of a text, and the
    problems with the markers themselves (no reason, or nothing listed)."""
    allowed, problems = {}, []
    for match in _MARKER.finditer(text):
        why = match.group("why").strip()
        listed = list(_PROSE_NUMBER.finditer(match.group("numbers")))
        if not why or not listed:
            problems.append(f"marker {match.group(0)!r} needs numbers, then '|' and the reason")
        for m in listed:
            allowed[_decimal(m.group("num"), m.group("exp"))] = (m.group(0), why)
    for unterminated in re.finditer(r"<!--\s*prose-numbers:(?:(?!-->)[^|])*-->", text):
        problems.append(f"marker {unterminated.group(0)!r} has no '|' and reason")
    return allowed, problems


def sentence(text, start, end, limit=220):
    """The sentence around text[start:end], on one line; in a table, its row."""
    line_start, line_end = text.rfind("\n", 0, start) + 1, text.find("\n", end)
    row = text[line_start:None if line_end < 0 else line_end]
    if row.lstrip().startswith("|"):
        words = " ".join(row.split())
        return words if len(words) <= limit else words[:limit - 3] + "..."
    left = max(text.rfind(stop, 0, start) for stop in (". ", "! ", "? ", "\n\n", "\n- ", "\n* ", "|"))
    left = 0 if left < 0 else left + 1
    rights = [i for i in (text.find(stop, end) for stop in (". ", "! ", "? ", "\n\n", "\n- ", "|")) if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    words = " ".join(text[left:right].split())
    return words if len(words) <= limit else words[:limit - 3] + "..."


# ------------------------------------------------------------------------------------------ reading sources
# An exponent has at most 3 digits (a float's does): "8e07063190" in a pandas Styler's random HTML id is no number.
_SOURCE_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:[,_]\d{3})+|\d+)(\.\d+)?([eE][-+]?\d{1,3}(?!\d))?(\s?%)?")
# Words that make a line (or its table's header) about time or speed, so that its numbers may be quoted with a
# unit of time or speed. A number with a unit in prose matches only such numbers: "50 s" is not "after step 50".
_TIME = r"\b(?:time|timings?|elapsed|wall|duration)\b|"
_CONTEXT = {"ms": re.compile(_TIME + r"\bms\b|milliseconds?|µs|\dms\b", re.I),
            "s": re.compile(_TIME + r"\bseconds?\b|\bsecs?\b|\ds\b|(?<![\w'’])s(?![\w'’])", re.I),
            "min": re.compile(_TIME + r"\bmin(?:ute)?s?\b", re.I),
            "h": re.compile(_TIME + r"\bhours?\b|\bhrs?\b", re.I),
            "speed": re.compile(r"speed|faster|slower|ratio|throughput|×|\dx\b|/\s?s\b|per second", re.I)}


class _Values:
    """A set of numbers, for exact and rounded look-ups."""

    def __init__(self, values):
        self.values = set(values)
        self.ordered = sorted(self.values)

    def __contains__(self, value):
        return value in self.values

    def near(self, value, half_step):
        """Whether some number lies within ``half_step`` of ``value`` (rounds to it)."""
        i = bisect.bisect_left(self.ordered, value - half_step)
        return i < len(self.ordered) and self.ordered[i] <= value + half_step


def _values(whole, fraction, exponent, percent):
    """The values a number in code or an output may stand for."""
    value = _decimal(whole + fraction, exponent or None)
    values = {value}
    if percent:
        values.add(value / 100)
    if len(parts := re.split(r"[,_]", whole)) > 1:  # "64,128" may be a shape, not 64128
        values.update(Decimal(part) for part in parts[:-1])
        values.add(_decimal(parts[-1] + fraction, exponent or None))
    return values


class Sources:
    """Every number in a body of code and outputs; also, per kind of unit (ms, s, min, h, speed), the numbers
    that carry that unit or stand in a line (or under a table header) about that kind."""

    def __init__(self, texts):
        everything, by_kind = set(), {kind: set() for kind in _UNITS}
        for text in texts:
            lines = text.splitlines() or [""]
            header = " ".join(re.findall(r"<th[^>]*>(.*?)</th>", text, re.S)) or lines[0]
            table_header = ""  # the header row of the markdown table a line is in
            for index, line in enumerate(lines):
                following = lines[index + 1] if index + 1 < len(lines) else ""
                if not line.lstrip().startswith("|"):
                    table_header = ""
                elif re.fullmatch(r"\s*\|[\s|:-]+\|?\s*", following) and "-" in following:
                    table_header = line
                for match in _SOURCE_NUMBER.finditer(line):
                    values = _values(*match.groups(default=""))
                    everything |= values
                    after = line[match.end():match.end() + 24]
                    for kind, unit in _UNITS.items():
                        context = f"{line} {header} {table_header}"
                        if unit.match(after) or _CONTEXT[kind].search(context):
                            by_kind[kind] |= values
        self.all = _Values(everything)
        self.by_kind = {kind: _Values(values) for kind, values in by_kind.items()}

    def of_kind(self, kind):
        return self.all if kind is None else self.by_kind[kind]


def _significant_digits(value):
    return len(value.normalize().as_tuple().digits) if value else 1


def found_in(number, sources):
    """Whether a prose number appears in the sources (see the module docstring for the rules)."""
    sources = sources.of_kind(number.kind)
    candidates = [(number.value, number.places)]
    if number.percent:
        candidates.append((number.value / 100, number.places + 2))
    if any(value in sources for value, _ in candidates):
        return True
    digits = len(re.sub(r"\D", "", number.written.split("e")[0].split("E")[0]).lstrip("0"))
    if max(digits, _significant_digits(number.value)) < 2:
        return False
    return any(sources.near(value, Decimal(5).scaleb(-places - 1)) for value, places in candidates)


# ------------------------------------------------------------------------------------------ notebooks
def _text(value):
    return "".join(value) if isinstance(value, list) else value


def notebook_sources(notebook):
    """The texts a notebook's prose may quote: its code and its outputs."""
    texts = []
    for cell in notebook.get("cells", []):
        if cell["cell_type"] != "code":
            continue
        texts.append(_text(cell.get("source", "")))
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(_text(output["text"]))
            for mime in OUTPUT_MIMES:
                if mime in output.get("data", {}):
                    texts.append(_text(output["data"][mime]))
    return texts


def stale_numbers(text, sources, where, allowed=None):
    """Problems with one piece of prose: numbers not in ``sources``, and bad markers. ``where`` names it."""
    listed, problems = markers(text)
    problems = [f"{where}: {problem}" for problem in problems]
    allowed = allowed or {}
    numbers = prose_numbers(text)
    for value, (written, _) in listed.items():
        if not any(number.value == value for number in numbers):
            problems.append(f"{where}: the marker lists {written}, which this text does not contain")
    for number in numbers:
        if number.value in listed or number.written in allowed or found_in(number, sources):
            continue
        problems.append(f"{where}: {number.written} appears in no code or output; "
                        f"sentence: {sentence(text, number.start, number.end)!r}")
    return problems


def notebook_problems(notebook, name, allowed=None):
    sources = Sources(notebook_sources(notebook))
    problems = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell["cell_type"] == "markdown":
            problems += stale_numbers(_text(cell.get("source", "")), sources, f"{name} cell {index}", allowed)
    return problems


def _allowed_for(name):
    return {number: why for (file, number), why in ALLOWED.items() if file == name}


def _notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks in notebooks/ yet"))]
    return [pytest.param(path, id=path.name) for path in NOTEBOOKS]


@pytest.mark.parametrize("path", _notebook_params())
def test_numbers_in_a_notebooks_prose_come_from_its_run(path):
    notebook = json.loads(path.read_text())
    problems = notebook_problems(notebook, path.name, _allowed_for(path.name))
    assert not problems, "numbers in prose that no code or output of the notebook holds:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", [pytest.param(path, id=path.name) for path in DOCUMENTS])
def test_numbers_in_readme_and_approach_come_from_a_run(path):
    if not path.exists():
        pytest.skip(f"no {path.name}")
    texts = [p.read_text() for p in BENCH if p.exists()]
    for notebook_path in NOTEBOOKS:
        texts += notebook_sources(json.loads(notebook_path.read_text()))
    problems = stale_numbers(path.read_text(), Sources(texts), path.name, _allowed_for(path.name))
    assert not problems, ("numbers in prose found neither in bench/results.* nor in any notebook's code or "
                          "outputs:\n" + "\n".join(problems))


# ------------------------------------------------------------------------------------------ self-tests
def _notebook(markdown, code="", output=""):
    return {"cells": [{"cell_type": "markdown", "source": markdown},
                      {"cell_type": "code", "source": code,
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]}]}


def _written(text):
    return [number.written for number in prose_numbers(text)]


@pytest.mark.parametrize("text, expected", [
    ("exact accuracy 0.961 after 21 s, 12× faster, 161,842 parameters", ["0.961", "21 s", "12×", "161,842"]),
    ("99.4% of rows; 96 percent; 3.5 ms per step; 2 minutes; 5x", ["99.4%", "96 percent", "3.5 ms", "2 minutes",
                                                                  "5x"]),
    ("trained 2000 steps at 3e-3 on 1,000 rows; 960 seq/s", ["2000", "3e-3", "1,000", "960 seq/s"]),
    ("lengths 1 to 50, step 3, 10 symbols, a 2 × 3 matrix, 64 units, 4 × (8 × 8 + 8) weights", []),
    ("3 × faster, 4 × the time", ["3 ×"]),
    ("Sutskever et al. 2014 and Gers et al., 2000 (1997); Cho 2014; the 1997 LSTM", []),
    ("$p^{13} = 0.25$ and $$\\sum 0.5$$ and `lr=0.003` and [link](https://x.org/0.77) https://a.b/0.66", []),
    ("# 04 · Fast decoding\n## 3.2 Masking\nTensorFlow 2.21.0, notebook c65, 04_fast_greedy.ipynb, 2D, 3rd", []),
    ("its SHA-256 in the manifest, UTF-8", []),
    ("<!-- prose-numbers: 0.5 | a comment --> <img width=\"600\">", []),
])
def test_what_counts_as_a_number_from_a_run(text, expected):
    assert _written(text) == expected


def test_a_stale_number_fails_and_names_cell_number_and_sentence():
    notebook = _notebook("# 01 · T\n\nThe model reaches 0.961 exact accuracy. It trains fast.", "print(acc)",
                         "exact 0.972\n")
    problems = notebook_problems(notebook, "01_t.ipynb")
    assert len(problems) == 1
    assert "01_t.ipynb cell 0" in problems[0] and "0.961" in problems[0]
    assert "The model reaches 0.961 exact accuracy." in problems[0]


@pytest.mark.parametrize("prose, output", [
    ("reaches 0.961 exact", "exact 0.961\n"),
    ("reaches 0.96 exact", "exact 0.9612\n"),            # rounded to the prose's precision
    ("reaches 0.50 exact", "exact 0.5\n"),               # a trailing zero
    ("161,842 parameters", "Total params: 161842\n"),
    ("161842 parameters", "Total params: 161,842 (632.20 KB)\n"),
    ("99.4% of rows", "exact 0.994\n"),
    ("0.994 of rows", "exact 99.4%\n"),
    ("99% of rows", "exact 0.9943\n"),
    ("takes 21 s", "trained in 21.0 s\n"),
    ("12× faster", "speed-up 12.3\n"),
])
def test_a_number_rendered_in_an_output_passes(prose, output):
    assert notebook_problems(_notebook(prose, "print(x)", output), "01_t.ipynb") == []


@pytest.mark.parametrize("prose, output", [
    ("reaches 0.5 exact", "exact 0.46\n"),               # one digit: by value only
    ("5x faster", "speed-up 5.46\n"),
    ("takes 50 s", "trained in 21.0 s\n"),
    ("reaches 0.96 exact", "exact 0.9651\n"),
    ("99.4% of rows", "exact 0.9951\n"),
])
def test_a_number_that_differs_from_the_output_fails(prose, output):
    assert notebook_problems(_notebook(prose, "print(x)", output), "01_t.ipynb") != []


@pytest.mark.parametrize("prose, output, passes", [
    ("50 s of training", "after step 50: exact 0.00\ntrained in 21.0 s\n", False),
    ("21 s of training", "after step 50: exact 0.00\ntrained in 21.0 s\n", True),
    ("85.1 s for dot", "variant  seconds  exact\ndot      85.1     1.0\n", True),    # a table's header
    ("85.1 s for dot", "variant  loss  exact\ndot      85.1     1.0\n", False),
    ("85.1 s for dot", "<table><tr><th>variant</th><th>seconds</th></tr><tr><td>dot</td><td>85.1</td></tr>", True),
    ("2 minutes", "epochs 2, length 12\n", False),
    ("3 minutes", "1/1 - 3s - loss: 0.1\n", False),
    ("3 minutes", "the sweep took 3.0 min\n", True),
    ("3.5 ms", "3.5 ms per step\n", True),
    ("12× faster", "decoded 12 rows\n", False),
    ("12× faster", "12.1x faster than prefix decoding\n", True),
    ("960 seq/s", "incremental: 960 sequences/s\n", True),
    ("960 seq/s", "vocabulary 960\n", False),
    ("71.9 s", "Results\n\n| model | median s | exact |\n|---|---|---|\n| GRU | 71.9 | 0.99 |\n", True),
    ("71.9 s", "Results\n\n| model | loss | exact |\n|---|---|---|\n| GRU | 71.9 | 0.99 |\n", False),
])
def test_a_number_with_a_unit_matches_only_a_time_or_a_speed(prose, output, passes):
    assert (notebook_problems(_notebook(prose, "print(x)", output), "01_t.ipynb") == []) == passes


def test_a_number_in_the_code_passes():
    assert notebook_problems(_notebook("at learning rate 3e-3 for 2000 steps", "fit(lr=0.003, steps=2_000)"),
                             "01_t.ipynb") == []


def test_maths_is_skipped():
    prose = "Independence would give $0.99^{13} \\approx 0.877$, and $$L = 1234.5$$ holds."
    assert notebook_problems(_notebook(prose), "01_t.ipynb") == []


def test_an_allow_listed_citation_passes():
    prose = "Bahdanau et al. 2015 report a BLEU of 28.45 on English-French."
    assert notebook_problems(_notebook(prose), "01_t.ipynb") != []
    assert notebook_problems(_notebook(prose), "01_t.ipynb", {"28.45": "BLEU, Bahdanau et al. 2015"}) == []


def test_a_marked_number_passes_and_a_stale_marker_fails():
    marked = "50 symbols hold 166 bits. <!-- prose-numbers: 166 | 50 x log2(10), arithmetic -->"
    assert notebook_problems(_notebook(marked), "01_t.ipynb") == []
    orphan = "50 symbols hold 170 bits. <!-- prose-numbers: 166 | 50 x log2(10), arithmetic -->"
    problems = notebook_problems(_notebook(orphan), "01_t.ipynb")
    assert any("170" in p for p in problems) and any("marker lists 166" in p for p in problems)
    no_reason = "50 symbols hold 166 bits. <!-- prose-numbers: 166 -->"
    assert notebook_problems(_notebook(no_reason), "01_t.ipynb") != []


def test_readme_numbers_are_looked_up_in_the_bench_results():
    sources = Sources(['{"seconds": 14.577296994999415, "params": 219570, "speedup": 33.24072857379069}'])
    assert stale_numbers("trains in 14.6 s with 219,570 parameters, 33x faster", sources, "README.md") == []
    assert stale_numbers("trains in 15.6 s", sources, "README.md") != []
