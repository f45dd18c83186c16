"""Every program in res/ gives exactly its expected record."""

import json
import sys

import pytest

import tracer
from tests import fixtures
from tests.conftest import check_record


@pytest.mark.parametrize("name", fixtures.names())
def test_fixture_record_matches_expected(name):
    record = check_record(fixtures.record(name))
    expected = json.loads(fixtures.expected_path(name).read_text(encoding="utf-8"))
    assert record == expected


@pytest.mark.parametrize("name", fixtures.names())
def test_expected_file_is_valid_and_service_shaped(name):
    expected = json.loads(fixtures.expected_path(name).read_text(encoding="utf-8"))
    check_record(expected)
    assert expected["limits"]["steps"] == fixtures.steps(name)


def test_there_are_enough_fixtures():
    assert len(fixtures.names()) >= 26


def test_fixtures_cover_every_outcome_they_can():
    statuses = {json.loads((fixtures.RES / f"{name}.json").read_text())["outcome"]["status"]
                for name in fixtures.names()}
    assert {"ok", "exception", "syntax_error", "step_limit"} <= statuses


def test_fixtures_cover_every_heap_kind():
    kinds = set()
    for name in fixtures.names():
        for step in json.loads((fixtures.RES / f"{name}.json").read_text())["steps"]:
            kinds.update(obj["kind"] for obj in step["heap"].values())
    assert kinds == {"list", "tuple", "set", "frozenset", "dict", "instance", "class", "function", "other"}


def test_comprehension_frames_follow_the_running_cpython():
    """3.11 runs a comprehension in a frame of its own; 3.12 inlines it (PEP 709)."""
    record = tracer.trace(fixtures.source("comprehensions"))
    names = {frame["name"] for step in record["steps"] for frame in step["stack"]}
    if sys.version_info[:2] == (3, 11):
        assert {"<listcomp>", "<setcomp>", "<dictcomp>"} <= names
    else:
        assert names == {"<module>"}
        assert fixtures.expected_path("comprehensions") != fixtures.RES / "comprehensions.json"
