"""Recovery targets and the choice of a backup (pure logic of pg_pitr_restore)."""

import datetime
import re
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import choose_backup, format_time, normalize_target, parse_time

UTC = datetime.timezone.utc


def backup(label, start, stop, lsn_stop="0/3000000", kind="full"):
    return {"label": label, "type": kind, "timestamp": {"start": start, "stop": stop}, "lsn": {"start": "0/2000000", "stop": lsn_stop}, "info": {"size": 1}}


BACKUPS = [backup("F1", 1000, 1010, "0/3000000"), backup("D1", 2000, 2010, "0/8000000", "diff")]


@pytest.mark.parametrize(
    "given, expected",
    [
        ("2026-11-23T10:15:00Z", "2026-11-23 10:15:00+00"),
        ("2026-11-23 10:15:00+01:00", "2026-11-23 09:15:00+00"),
        ("2026-11-23T10:15:00.250000-0230", "2026-11-23 12:45:00.250000+00"),
        ("2026-11-23 10:15:00+02", "2026-11-23 08:15:00+00"),
    ],
)
def test_time_targets_normalised_to_utc_with_offset(given, expected):
    target = normalize_target({"type": "time", "value": given})
    assert target["value"] == expected and target["inclusive"] is True and target["timeline"] == "current"


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"type": "time", "value": "2026-11-23 10:15:00"}, "has no time zone"),
        ({"type": "time", "value": "yesterday Z"}, "is not an ISO 8601 time"),
        ({"type": "time"}, "needs target.value"),
        ({"type": "lsn", "value": "12345"}, "is not an LSN"),
        ({"type": "xid", "value": "12a"}, "is not a transaction id"),
        ({"type": "name", "value": "x" * 64}, "longer than"),
        ({"type": "latest", "value": "now"}, "takes no value"),
        ({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": "next"}, "target.timeline"),
        ({"type": "sometime"}, "target.type must be one of"),
    ],
)
def test_bad_targets_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        normalize_target(spec)


def test_format_time_keeps_microseconds_and_the_zone():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    assert format_time(moment) == "2026-01-02 03:04:05.000060+00"
    assert parse_time(format_time(moment)) == moment


def at(seconds):
    return datetime.datetime.fromtimestamp(seconds, UTC).isoformat()


def test_time_and_lsn_targets_choose_the_newest_backup_that_ended_before():
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1500)}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(2011)}))["label"] == "D1"
    # pgBackRest's stop is in whole seconds: within the next second the earlier backup is chosen
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(2010.5)}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "lsn", "value": "0/5000000"}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "latest"}))["label"] == "D1"


def test_targets_before_a_backup_end_are_refused():
    with pytest.raises(ValueError, match="before the end of the earliest backup"):
        choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1005)}))
    with pytest.raises(ValueError, match="before backup D1 stopped"):
        choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1500)}), "D1")
    with pytest.raises(ValueError, match="before the end of the earliest backup"):
        choose_backup(BACKUPS, normalize_target({"type": "lsn", "value": "0/1000000"}))


def test_xid_and_name_need_a_backup_set():
    for spec in ({"type": "xid", "value": "900"}, {"type": "name", "value": "before_upgrade"}):
        with pytest.raises(ValueError, match="give backup_set"):
            choose_backup(BACKUPS, normalize_target(spec))
        assert choose_backup(BACKUPS, normalize_target(spec), "F1")["label"] == "F1"
    with pytest.raises(ValueError, match="is not in the repository"):
        choose_backup(BACKUPS, normalize_target({"type": "xid", "value": "900"}), "F9")
    with pytest.raises(ValueError, match="has no backup"):
        choose_backup([], normalize_target({"type": "latest"}))


# --- time targets: what is refused as ambiguous, and a property of what is accepted (issue #14) ---

NORMAL_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\+00")
# Nothing on disk in the checkout: no example database, Hypothesis' own folder a temporary one.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="odoo_ops-hypothesis-")
set_hypothesis_home_dir(HYPOTHESIS_HOME)
PROPERTY = settings(database=None, deadline=None, max_examples=600, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_home():
    try:
        yield
    finally:
        shutil.rmtree(HYPOTHESIS_HOME, ignore_errors=True)


@pytest.mark.parametrize(
    "given, message",
    [
        ("2026-12-02", "is a date without a time"),  # was read as midnight in the host's zone
        ("2026-12-02Z", "is a date without a time"),
        ("2026-12-02-02", "is a date without a time"),  # the date's -02 read as an offset
        ("2026-12-02+01:00", "is a date without a time"),
        ("2026-12-02T10", "has an hour but no minutes"),
        ("2026-12-02T10+01", "has an hour but no minutes"),
        ("2026-12-02 10Z", "has an hour but no minutes"),
        ("2026-12-02T10:00", "has no time zone"),
        ("2026-12-02T10:00:00.123456", "has no time zone"),
        ("2026-12-02T10:00:00Z\n", "white space around it"),
        ("2026-12-02T10:00:00Z ", "white space around it"),
        (" 2026-12-02T10:00:00Z", "white space around it"),
        ("\t2026-12-02T10:00:00+01:00", "white space around it"),
        ("2026-12-02T10:00:00.1234567Z", "more than six decimals"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("1969-12-31T23:59:59Z", "before 1970"),
        ("1970-01-01T00:00:00+14:00", "before 1970"),
        ("2026-12-02T24:00Z", "not a real time"),
        ("2026-12-31T23:59:60Z", "not a real time"),  # leap seconds: PostgreSQL and Python disagree
        ("2026-02-29T10:00Z", "not a real time"),
        ("2026-13-01T10:00Z", "not a real time"),
        ("2026-12-02T10:00+15:00", "which no time zone uses"),
        ("2026-12-02T10:00-13", "which no time zone uses"),
        ("2026-12-02T10:00+01:60", "offset that is not HH:MM"),
        ("2026-12-02 10:00:00 +01:00", "is not an ISO 8601 time"),  # a space before the zone
        ("2026-12-02T10:00:00,5Z", "is not an ISO 8601 time"),  # a decimal comma
        ("2026-W49-3T10:00Z", "is not an ISO 8601 time"),  # week date
        ("2026-336T10:00Z", "is not an ISO 8601 time"),  # ordinal date
        ("20261202T1000Z", "is not an ISO 8601 time"),  # basic form
        ("2026-12-2T10:00Z", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00+1", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00+01:0", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00UTC", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00 Europe/Paris", "is not an ISO 8601 time"),
        ("\u0662\u0660\u0662\u0666-12-02T10:00Z", "is not an ISO 8601 time"),  # Arabic-Indic digits match \d
        ("2026-12-02\u00a010:00Z", "is not an ISO 8601 time"),  # a no-break space
        ("2026-12-02TT10:00Z", "is not an ISO 8601 time"),
        ("now", "is not an ISO 8601 time"),
        ("", "is not an ISO 8601 time"),
    ],
)
def test_ambiguous_or_malformed_times_are_refused_with_the_reason(given, message):
    with pytest.raises(ValueError, match=message):
        parse_time(given)
    with pytest.raises(ValueError, match=message if given else "needs target.value"):
        normalize_target({"type": "time", "value": given})


@pytest.mark.parametrize(
    "given, expected",
    [
        ("2026-12-02 10:00-01", "2026-12-02 11:00:00+00"),  # +-HH after a full time is unambiguous
        ("2026-12-02t10:00z", "2026-12-02 10:00:00+00"),
        ("2026-12-02T10:00:00.5+0530", "2026-12-02 04:30:00.500000+00"),
        ("2026-12-02T10:00:00-00:00", "2026-12-02 10:00:00+00"),
        ("1970-01-01T00:00:00Z", "1970-01-01 00:00:00+00"),
        ("9999-12-31T23:59:59.999999+01:00", "9999-12-31 22:59:59.999999+00"),
        ("2026-12-02T10:00+14:00", "2026-12-01 20:00:00+00"),
        ("2026-12-02T10:00-12:00", "2026-12-02 22:00:00+00"),
    ],
)
def test_unambiguous_edge_forms_are_accepted(given, expected):
    assert normalize_target({"type": "time", "value": given})["value"] == expected


def test_other_target_kinds_refuse_trailing_newlines_and_non_ascii_digits():
    for spec, message in [
        ({"type": "lsn", "value": "0/1A2B3C4D\n"}, "is not an LSN"),
        ({"type": "xid", "value": "1234\n"}, "is not a transaction id"),
        ({"type": "xid", "value": "\u0661\u0662\u0663\u0664"}, "is not a transaction id"),
        ({"type": "xid", "value": "2"}, "is not a transaction id"),
        ({"type": "xid", "value": str(2**64)}, "is not a transaction id"),
        ({"type": "name", "value": "a'b"}, "a quote or a backslash"),
        ({"type": "name", "value": "line\nbreak"}, "control character"),
        ({"type": "name", "value": "\u00e9" * 32}, "63 bytes"),
        ({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": "2\n"}, "target.timeline"),
        ({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": "0"}, "target.timeline"),
        ({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": str(2**32)}, "target.timeline"),
    ]:
        with pytest.raises(ValueError, match=message):
            normalize_target(spec)
    assert normalize_target({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": "002"})["timeline"] == "2"
    assert normalize_target({"type": "xid", "value": "3"})["value"] == "3"
    assert normalize_target({"type": "name", "value": "before upgrade \u00e9"})["value"] == "before upgrade \u00e9"


OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: datetime.timedelta(minutes=m))
INSTANTS = st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(9999, 12, 30), timezones=st.just(UTC))


@st.composite
def written_times(draw):
    """(text, instant): an instant written as a person may write it - any separator, precision and
    zone form the grammar allows, in any zone from -12:00 to +14:00."""
    instant, offset = draw(INSTANTS), draw(OFFSETS)
    digits = draw(st.sampled_from([None, 0, 1, 2, 3, 4, 5, 6]))  # None: HH:MM only; 0: HH:MM:SS
    if digits is None:
        instant = instant.replace(second=0, microsecond=0)
    else:
        instant = instant.replace(microsecond=instant.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
    local = instant.astimezone(datetime.timezone(offset))
    text = "%04d-%02d-%02d%s%02d:%02d" % (local.year, local.month, local.day, draw(st.sampled_from("Tt ")), local.hour, local.minute)
    if digits is not None:
        text += ":%02d" % local.second
        if digits:
            text += "." + ("%06d" % local.microsecond)[:digits]
    minutes = int(offset.total_seconds()) // 60
    sign, hours, mins = "-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60
    forms = ["%s%02d:%02d" % (sign, hours, mins), "%s%02d%02d" % (sign, hours, mins)]
    forms += ["%s%02d" % (sign, hours)] if not mins else []
    forms += ["Z", "z"] if not minutes else []
    return text + draw(st.sampled_from(forms)), instant


@PROPERTY
@given(written_times())
def test_every_written_time_normalises_to_utc_and_back_to_the_same_instant(case):
    text, instant = case
    target = normalize_target({"type": "time", "value": text})
    assert NORMAL_RE.fullmatch(target["value"]), target["value"]
    assert target["moment"] == instant
    assert parse_time(target["value"]) == instant  # what PostgreSQL is given means the same instant
    assert normalize_target({"type": "time", "value": target["value"]})["value"] == target["value"]


@st.composite
def near_misses(draw):
    """A written time with up to three edits: a character changed, dropped, doubled or inserted (digits,
    separators, zone letters, white space) - many are refused, some still valid."""
    text = draw(written_times())[0]
    for _edit in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        char = draw(st.sampled_from(list("0123456789:-+.,TtZz \n\t") + ["\u0663", "\u00a0"]))
        edit = draw(st.sampled_from(["change", "drop", "double", "insert"]))
        if edit == "change" and at < len(text):
            text = text[:at] + char + text[at + 1 :]
        elif edit == "drop" and at < len(text):
            text = text[:at] + text[at + 1 :]
        elif edit == "double" and at < len(text):
            text = text[:at] + text[at] + text[at:]
        else:
            text = text[:at] + char + text[at:]
    return text


@PROPERTY
@given(st.one_of(near_misses(), st.text(max_size=40)))
def test_whatever_is_accepted_is_normalised_and_means_what_iso_8601_says(text):
    try:
        moment = parse_time(text)
    except ValueError:
        return  # refused, with a message (anything else would have failed the test)
    value = format_time(moment)
    assert NORMAL_RE.fullmatch(value), (text, value)
    assert parse_time(value) == moment
    # An independent reading of the same text: Python's own ISO 8601 parser (which is laxer).
    assert moment == datetime.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00")), text
    assert text == text.strip() and text[10] in "Tt " and text[13] == ":"
