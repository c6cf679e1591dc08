"""Turn what a user typed into a safe full-text query, in each backend's syntax.

User text is never query syntax. It is cut into words (letters and digits;
everything else separates words), at most MAX_TERMS of them, and every word must
match as a prefix ("cardio" finds "cardiology"):

- SQLite FTS5: each word a double-quoted string token followed by ``*``, joined
  by spaces (FTS5's implicit AND);
- PostgreSQL: each word a quoted lexeme with ``:*`` (prefix), joined by ``&``,
  given to to_tsquery('simple', …) over the unaccented text.

Quotes, ``*``, ``:``, ``&``, ``|``, ``!``, parentheses, ``NEAR``, ``AND``/``OR``/``NOT``
and column filters in the input are therefore plain text that either forms part of
a word or separates words; none of them can change the meaning of the query or
make it a syntax error.
"""
import re

# Letters and digits: what FTS5's unicode61 tokenizer keeps as token characters.
# Everything else (punctuation, quotes, operators' symbols, '_') separates words.
_WORD = re.compile(r"[^\W_]+")

# Enough words for any real search; the rest are ignored rather than refused.
MAX_TERMS = 12


def search_words(text):
    """The words of ``text`` a search matches on (possibly none)."""
    return _WORD.findall(text or "")[:MAX_TERMS]


def match_expression(text):
    """The FTS5 MATCH expression for ``text``, or None when it holds no searchable word."""
    words = search_words(text)
    if not words:
        return None
    # A word holds no '"' (the pattern excludes it), so quoting needs no escaping.
    return " ".join(f'"{word}"*' for word in words)


def tsquery_expression(text):
    """The to_tsquery('simple', …) text for ``text``, or None when it holds no searchable word."""
    words = search_words(text)
    if not words:
        return None
    # A word holds no "'" or backslash (the pattern excludes them): the quotes need no escaping.
    return " & ".join(f"'{word}':*" for word in words)


EXPRESSIONS = {"sqlite": match_expression, "postgres": tsquery_expression}
