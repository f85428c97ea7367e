"""The log: warning and error lines are counted since boot and the last few kept for status."""

from app import log


def test_warnings_and_errors_are_counted_and_the_last_four_kept():
    before = log.count
    del log.recent[:]
    log.info("app", "not kept")
    for i in range(6):
        log.warn("link", "lost %d" % i)
    log.error("relays", "cannot save")
    assert log.count - before == 7
    assert [line.split("] ")[1] for line in log.recent] == [
        "WARN link: lost 3",
        "WARN link: lost 4",
        "WARN link: lost 5",
        "ERROR relays: cannot save",
    ]
