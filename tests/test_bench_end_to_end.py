"""bench/end_to_end.py's comparison with the seed holds only where both traced the same
program as far (a record that stopped early is said so, not counted faster) and both
are served as they are deployed."""

import json

from bench import end_to_end


def _results(**steps):
    return {"programs": {name: {"steps": count} for name, count in steps.items()}}


def test_a_record_of_fewer_steps_is_not_the_same_trace():
    ours = _results(matrix=1000, fib=1000, tiny=4)
    seed = _results(matrix=9, fib=1000, tiny=4)
    assert end_to_end.fewer_steps(ours, seed) == {"matrix": (9, 1000)}
    assert end_to_end.fewer_steps(ours, ours) == {}


def test_steps_are_counted_in_either_service_s_record():
    assert end_to_end._steps_in(json.dumps({"steps": [{}, {}, {}], "outcome": {}}).encode()) == 3
    assert end_to_end._steps_in(json.dumps({"steps": [{"snapshot": {}}]}).encode()) == 1
    assert end_to_end._steps_in(json.dumps({"error": "no steps"}).encode()) == 0


def test_the_services_are_served_compiled_as_deployed_the_seeds_in_a_copy(tmp_path):
    """Cloud Functions' buildpack compiles a function's source at deploy: the bench serves
    each service so, whatever PYTHONDONTWRITEBYTECODE says, and leaves ../shared untouched."""
    seed = tmp_path / "shared" / "python"
    (seed / "tracer").mkdir(parents=True)
    (seed / "main.py").write_text("import tracer.inspector\n")
    (seed / "tracer" / "inspector.py").write_text("x = 1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copy = end_to_end.as_deployed(seed, scratch)
    assert copy == scratch / "python"
    assert [path.name.split(".")[0] for path in sorted(copy.rglob("*.pyc"))] == ["main", "inspector"]
    assert list(seed.rglob("*.pyc")) == []
    assert end_to_end.as_deployed(seed) == seed and len(list(seed.rglob("*.pyc"))) == 2
