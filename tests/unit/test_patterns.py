"""Filter patterns and their templates (``storage/sql/patterns.py``): learned only when nothing is guessed."""

from __future__ import annotations

from jsonserve.query.model import AllOf, Condition, Not, Op, TextSearch
from jsonserve.storage.sql.patterns import Templates, split
from jsonserve.storage.sql.sqlite import SqliteJson

FORMS = SqliteJson().value_forms
KEY = ("rows", ("posts", "the filter's text"), "()", 0, None)


def equals(value: str, path: str = "userId") -> Condition:
    return Condition((path,), Op.EQ, value)


def test_values_of_one_class_share_a_pattern_and_other_classes_do_not() -> None:
    three, seven = split(equals("3"), FORMS), split(equals("7"), FORMS)
    assert three is not None and seven is not None
    assert three.text == seven.text and three.forms != seven.forms
    others = {split(equals(value), FORMS).text for value in ("3", "3.0", "1e17", "true", "false", "x")}  # type: ignore[union-attr]
    assert len(others) == 6
    assert split(equals("3", "views"), FORMS).text != three.text  # type: ignore[union-attr]
    # Past 2**53 an integer compiles to the typed tests (SqliteJson.exact_equals): another class.
    for big in ("9007199254740993", "1152921504606846976", "-9007199254740993"):
        assert split(equals(big), FORMS).text != three.text  # type: ignore[union-attr]
    assert split(equals("9007199254740992"), FORMS).text == three.text  # type: ignore[union-attr]


def test_only_equality_values_are_split_out_the_rest_stays_in_the_pattern() -> None:
    one = split(AllOf((equals("3"), Condition(("views",), Op.GT, "10"), Not(TextSearch("a")))), FORMS)
    other = split(AllOf((equals("4"), Condition(("views",), Op.GT, "11"), Not(TextSearch("a")))), FORMS)
    assert one is not None and other is not None and one.text != other.text
    assert split(Condition(("views",), Op.GT, "10"), FORMS) is None  # nothing to split
    assert split(Condition(("id",), Op.IN, ("1", "2")), FORMS) is None
    assert split(equals("3"), lambda _text: None) is None  # a dialect without value forms


def learned(first: tuple[str, str, tuple[object, ...]], second: tuple[str, str, tuple[object, ...]]) -> Templates:
    templates = Templates()
    for value, sql, parameters in (first, second):
        pattern = split(equals(value), FORMS)
        assert pattern is not None
        templates.learn(pattern.key(KEY), pattern.forms, sql, parameters)
    return templates


def fill(templates: Templates, value: str) -> tuple[str, tuple[object, ...]] | None:
    pattern = split(equals(value), FORMS)
    assert pattern is not None
    return templates.fill(pattern.key(KEY), pattern.forms)


def test_two_telling_reads_teach_a_template_of_constants_and_value_forms() -> None:
    templates = learned(("3", "SQL", ("$.userId", "3", 3, 3.0, 3)), ("7", "SQL", ("$.userId", "7", 7, 7.0, 7)))
    assert fill(templates, "12") == ("SQL", ("$.userId", "12", 12, 12.0, 12))
    assert fill(templates, "1.5") is None  # another class: another pattern, not learned


def test_nothing_is_learned_from_reads_that_could_mislead() -> None:
    # "1" and "01" are one number: a parameter equal in both could be a constant or the number.
    assert fill(learned(("1", "SQL", ("1", 1)), ("01", "SQL", ("01", 1))), "5") is None
    # Two SQL texts for one pattern, or a parameter no form explains: no template.
    assert fill(learned(("3", "SQL", ("3",)), ("7", "OTHER", ("7",))), "5") is None
    assert fill(learned(("3", "SQL", ("3", "x3")), ("7", "SQL", ("7", "x7"))), "5") is None
    # Until a telling second read comes: then it is learned.
    templates = learned(("1", "SQL", ("1", 1)), ("01", "SQL", ("01", 1)))
    pattern = split(equals("2"), FORMS)
    assert pattern is not None
    templates.learn(pattern.key(KEY), pattern.forms, "SQL", ("2", 2))
    assert fill(templates, "5") == ("SQL", ("5", 5))
