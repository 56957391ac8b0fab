"""Query-side full-text for Ukrainian and English."""

from memory.textsearch import build_tsquery, stem_ukrainian


def test_ukrainian_words_lose_their_ending_and_match_as_prefixes():
    assert stem_ukrainian("проєкту") == "проєкт"
    assert stem_ukrainian("завданнями") == "завданн"
    assert stem_ukrainian("кіт") == "кіт"  # too short to cut
    query = build_tsquery("Що нового в проєкті?")
    assert query == "'нов':* | 'проєкт':*"  # "що" and "в" are stop words


def test_english_words_go_to_the_english_stemmer_and_operators_never_reach_tsquery():
    assert build_tsquery("projects' status") == "'projects' | 'status'"
    assert build_tsquery("a' | b:* & !c") == "'a' | 'b' | 'c'"
    assert build_tsquery("it's") == "'it' | 's'"
    assert build_tsquery("?!") == ""
