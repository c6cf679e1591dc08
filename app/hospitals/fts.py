"""Turn what a user typed into a safe FTS5 MATCH expression.

User text is never FTS syntax: every word becomes a double-quoted string token
followed by ``*`` (a prefix query, so "cardio" finds "cardiology"), and the
tokens are joined by spaces (FTS5's implicit AND). Quotes, ``*``, ``:``,
parentheses, ``NEAR``, ``AND``/``OR``/``NOT`` and column filters in the input
are therefore plain text that either forms part of a word or separates words;
none of them can change the meaning of the query or make it a syntax error.
"""
import re

# Letters and digits: what FTS5's unicode61 tokenizer keeps as token characters.
# Everything else (punctuation, quotes, operators' symbols, '_') separates words.
_WORD = re.compile(r"[^\W_]+")

# Enough words for any real search; the rest are ignored rather than refused.
MAX_TERMS = 12


def match_expression(text):
    """The MATCH expression for ``text``, or None when it holds no searchable word."""
    words = _WORD.findall(text or "")[:MAX_TERMS]
    if not words:
        return None
    # A word holds no '"' (the pattern excludes it), so quoting needs no escaping.
    return " ".join(f'"{word}"*' for word in words)
