"""Text front-end: exact normalizations, sentence splitting, G2P and the symbol table."""

import pytest

from voiceadapt.text import (
    EmptyTextError,
    SymbolTable,
    SymbolTableMismatch,
    normalize,
    numbers,
    phonemize,
    process,
    split_sentences,
)

NORMALIZATION_CASES = [
    ('Dr. Smith lives at 221 Baker St. in London.',
     'doctor Smith lives at two hundred twenty-one Baker street in London.'),
    ('It costs $5.50.',
     'It costs five dollars fifty cents.'),
    ('I paid $1 and £3.',
     'I paid one dollar and three pounds.'),
    ('Only $0.99!',
     'Only ninety-nine cents!'),
    ('The budget is $1.5 million.',
     'The budget is one point five million dollars.'),
    ('Unemployment fell to 4.5% in 2019.',
     'Unemployment fell to four point five percent in twenty nineteen.'),
    ('We met at 7:45 pm.',
     'We met at seven forty-five p m.'),
    ('Wake me at 7:05.',
     'Wake me at seven oh five.'),
    ('Lunch at 12:00.',
     "Lunch at twelve o'clock."),
    ('The meeting is at 9am.',
     'The meeting is at nine a m.'),
    ('She finished 1st, he was 22nd, they were 103rd.',
     'She finished first, he was twenty-second, they were one hundred third.'),
    ('Call 555-123-4567 now.',
     'Call five five five, one two three, four five six seven now.'),
    ('Call (555) 123-4567.',
     'Call five five five, one two three, four five six seven.'),
    ('My code is 0042.',
     'My code is zero zero four two.'),
    ('In 1984 there were 1,234,567 people.',
     'In nineteen eighty-four there were one million two hundred thirty-four thousand '
     'five hundred sixty-seven people.'),
    ('He was born in 2005.',
     'He was born in two thousand five.'),
    ('The 1990s were loud.',
     'The nineteen nineties were loud.'),
    ('It was 1900.',
     'It was nineteen hundred.'),
    ('Pi is about 3.14159.',
     'Pi is about three point one four one five nine.'),
    ('It is -5 degrees.',
     'It is minus five degrees.'),
    ('St. Louis is on the river.',
     'saint Louis is on the river.'),
    ('Visit https://www.example.com/about?x=1 for details.',
     'Visit example dot com for details.'),
    ('Write to john.doe@example.org today.',
     'Write to john doe at example dot org today.'),
    ('“Hello,” she said — quietly…',
     '"Hello," she said - quietly...'),
    ('I love it 😀👍!',
     'I love it!'),
    ('Café naïve résumé.',
     'Cafe naive resume.'),
    ('Tom & Jerry, e.g. cartoons, etc.',
     'Tom and Jerry, for example cartoons, et cetera.'),
    ('Mr. and Mrs. Jones vs. Prof. Lee.',
     'mister and missus Jones versus professor Lee.'),
    ('It weighs 5 kg and runs at 30 mph.',
     'It weighs five kilograms and runs at thirty miles per hour.'),
    ('No. 7 is lucky.',
     'number seven is lucky.'),
    ('Bell\x07 rang\x00.',
     'Bell rang.'),
    ('Temperatures hit 30°C.',
     'Temperatures hit thirty degrees celsius.'),
    ('Items 1,2,3 are ready.',
     'Items one, two, three are ready.'),
    ("The 80s and '90s.",
     'The eighties and nineties.'),
    ('We met at 7:45 p.m. yesterday.',
     'We met at seven forty-five p m yesterday.'),
    ('We met at 7:45 p.m. Then we left.',
     'We met at seven forty-five p m. Then we left.'),
    ('Apples, pears, etc. and more.',
     'Apples, pears, et cetera and more.'),
    ('Tickets cost $20, $1,000 or $1.01.',
     'Tickets cost twenty dollars, one thousand dollars or one dollar one cent.'),
    ('Up 3,000,000 by 20%.',
     'Up three million by twenty percent.'),
    ('Year 2024 and 1492.',
     'Year twenty twenty-four and fourteen ninety-two.'),
    ('Meet me on Elm Dr.',
     'Meet me on Elm drive.'),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZATION_CASES)
def test_normalize_exact(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("n", "card", "ordn"),
    [
        (0, "zero", "zeroth"),
        (13, "thirteen", "thirteenth"),
        (40, "forty", "fortieth"),
        (101, "one hundred one", "one hundred first"),
        (999_999, "nine hundred ninety-nine thousand nine hundred ninety-nine",
         "nine hundred ninety-nine thousand nine hundred ninety-ninth"),
        (2_000_012, "two million twelve", "two million twelfth"),
    ],
)
def test_cardinal_and_ordinal(n, card, ordn):
    assert numbers.cardinal(n) == card
    assert numbers.ordinal(n) == ordn


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\U0001F600\U0001F44D", "...!?", None])
def test_nothing_to_speak_is_a_clear_error(text):
    with pytest.raises(EmptyTextError, match="nothing to speak|must be a string"):
        process(text)


def test_sentence_splitting_keeps_order_and_punctuation():
    text = normalize("Dr. Smith arrived at 9 a.m. He paid $5.50! Was it worth it? Yes.")
    assert split_sentences(text) == [
        "doctor Smith arrived at nine a m.",
        "He paid five dollars fifty cents!",
        "Was it worth it?",
        "Yes.",
    ]


def test_long_sentence_is_cut_at_clauses_then_words():
    clause = "the little boat drifted slowly past the harbour wall"
    text = ", ".join([clause] * 12) + "."
    parts = split_sentences(text, max_chars=120)
    assert all(len(p) <= 120 for p in parts)
    assert " ".join(parts).replace("  ", " ") == text


def test_ten_thousand_characters_split_without_crash():
    words = ("alpha beta gamma delta 42 epsilon, " * 400)[:10_000]
    sentences = process(words)
    assert len(sentences) > 30
    assert all(len(s.text) <= 250 for s in sentences)
    assert all(s.ids[0] != s.ids[-1] for s in sentences)  # BOS ... EOS


def test_g2p_exact_phonemes():
    assert phonemize(["The quick brown fox jumps over the lazy dog."]) == [
        "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ."
    ]
    assert phonemize(["Hello, world! How are you today?"]) == [
        "həlˈoʊ, wˈɜːld! hˌaʊ ɑːɹ juː tədˈeɪ?"
    ]


def test_process_encodes_every_phoneme_and_round_trips():
    table = SymbolTable()
    (sentence,) = process("Dr. Smith paid $5.50.", table)
    assert sentence.text == "doctor Smith paid five dollars fifty cents."
    assert table.decode(list(sentence.ids)) == sentence.phonemes
    assert all(0 < i < len(table) for i in sentence.ids)


def test_symbol_table_round_trip_and_mismatch():
    table = SymbolTable()
    restored = SymbolTable.from_dict(table.to_dict())
    restored.check_compatible(table)
    other = SymbolTable(version="x", symbols=table.symbols[:-1])
    with pytest.raises(SymbolTableMismatch, match="symbol table mismatch"):
        table.check_compatible(other)
    tampered = table.to_dict() | {"symbols": list(table.symbols[::-1])}
    with pytest.raises(ValueError):
        SymbolTable.from_dict(tampered)
