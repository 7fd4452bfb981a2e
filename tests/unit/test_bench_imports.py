"""The benchmark modules import and name their rows (no timing here: see make bench)."""

from benchmarks import suite


def test_every_row_of_the_table_is_a_row_of_make_bench() -> None:
    assert set(suite.ROWS) == {
        "rollback",
        "idle",
        "pods",
        "rss",
        "startup",
        "status-line",
        "status-line-kube",
        "apiload",
        "attach",
        "detection",
    }


def test_the_rows_are_listed() -> None:
    assert suite.main(["--list"]) == 0
