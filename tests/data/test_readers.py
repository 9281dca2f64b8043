"""Tests of recgym/data/readers.py: real samples against independent parses, hand-made files, and bad inputs."""

from __future__ import annotations

import csv
import json
import random
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recgym.data.readers import (
    RC15_FILES,
    RETAILROCKET_FILES,
    read_events,
    read_otto,
    read_rc15,
    read_retailrocket,
    read_table,
)
from recgym.data.schema import EventType
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError

CLICK, PURCHASE = int(EventType.CLICK), int(EventType.PURCHASE)
GRU4REC_COLUMNS = {"session_id": "SessionId", "item_id": "ItemId", "timestamp": "Time"}

# Two buys in the official format; times checked with `date -u -d 2014-04-06T11:26:24.127Z +%s%3N`.
BUYS = "1,2014-04-06T11:26:24.127Z,214509260,0,0\n11,2014-04-03T10:44:35.672Z,214821275,1046,2\n"
BUY_ROWS = [(1, 214509260, 1396783584127, PURCHASE), (11, 214821275, 1396521875672, PURCHASE)]
CLICKS = "1,2014-04-07T10:51:09.277Z,214536502,0\n2,2014-04-07T13:56:37.614Z,214662742,S\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def rows(events: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    columns = ["session_id", "item_id", "timestamp", "event_type"]
    return [tuple(int(value) for value in row) for row in events[columns].itertuples(index=False)]


def iso_ms(text: str) -> int:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def assert_one_line_naming(error: pytest.ExceptionInfo, name: str) -> str:
    message = str(error.value)
    assert name in message
    assert "\n" not in message
    assert "Traceback" not in message
    return message


# ---------------------------------------------------------------- real samples


def test_rc15_raw_sample_matches_an_independent_parse(shared_data: Path, tmp_path: Path) -> None:
    sample = shared_data / "rc15-raw-head" / "yoochoose-clicks-sample.dat"
    shutil.copy(sample, tmp_path / "yoochoose-clicks.dat")
    write(tmp_path, "yoochoose-buys.dat", BUYS)
    events = read_rc15(tmp_path, progress=False)

    with sample.open(newline="") as file:
        expected = [(int(s), int(i), iso_ms(t), CLICK) for s, t, i, _ in csv.reader(file)]
    assert len(expected) == 500
    assert rows(events) == expected + BUY_ROWS
    clicks = events[events["event_type"] == CLICK]
    assert clicks["session_id"].nunique() == 125
    assert list(events.columns) == ["session_id", "item_id", "timestamp", "event_type"]
    assert events.dtypes.astype(str).tolist() == ["int64", "int64", "int64", "int8"]
    assert rows(events)[0] == (1, 214536502, 1396867869277, CLICK)  # 2014-04-07T10:51:09.277Z by hand


def test_rc15_clicks_100k_through_read_table(shared_data: Path) -> None:
    path = shared_data / "rc15-clicks-100k" / "yoochoose-clicks-100k_train_full.txt"
    events = read_table(path, columns=GRU4REC_COLUMNS, timestamp_unit="s", progress=False)
    assert len(events) == 70_278
    assert events["session_id"].nunique() == 17_794
    assert events["item_id"].nunique() == 2_933
    assert (events["event_type"] == CLICK).all()
    with path.open(newline="") as file:
        reader = csv.reader(file, delimiter="\t")
        next(reader)
        expected = [(int(s), int(i), round(float(t) * 1000), CLICK) for s, i, t in reader]
    assert rows(events) == expected
    assert expected[0] == (3, 214716935, 1396437466940, CLICK)


def test_otto_sample_matches_json_parse(shared_data: Path) -> None:
    path = shared_data / "otto-sample" / "train.jsonl"
    events = read_otto(path, progress=False)
    kinds = {"clicks": CLICK, "carts": PURCHASE, "orders": PURCHASE}
    with path.open() as file:
        sessions = [json.loads(line) for line in file]
    expected = [(s["session"], e["aid"], e["ts"], kinds[e["type"]]) for s in sessions for e in s["events"]]
    counts = pd.Series([e["type"] for s in sessions for e in s["events"]]).value_counts()
    assert (len(expected), counts["clicks"], counts["carts"], counts["orders"]) == (862, 800, 52, 10)
    assert rows(events) == expected
    assert (events["event_type"] == PURCHASE).sum() == 62

    orders_only = read_otto(path, event_types={"clicks": EventType.CLICK, "carts": None, "orders": EventType.PURCHASE})
    assert len(orders_only) == 810
    assert (orders_only["event_type"] == PURCHASE).sum() == 10
    assert rows(read_events(path, progress=False)) == expected


def otto_lines(sessions: list[tuple[int, list[tuple[int, int, str]]]]) -> str:
    return "".join(
        json.dumps({"session": s, "events": [{"aid": a, "ts": t, "type": k} for a, t, k in events]}) + "\n"
        for s, events in sessions
    )


OTTO_SESSIONS = [
    (0, [(5, 1000, "clicks"), (6, 2000, "carts")]),
    (1, [(7, 1500, "orders")]),
    (2, [(5, 3000, "clicks"), (8, 3100, "clicks"), (9, 3200, "orders"), (5, 3300, "clicks")]),
]
OTTO_ROWS = [(s, a, t, PURCHASE if k != "clicks" else CLICK) for s, events in OTTO_SESSIONS for a, t, k in events]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 90, 1 << 26])
@pytest.mark.parametrize("final_newline", [True, False])
def test_otto_read_in_chunks_cut_anywhere(tmp_path, monkeypatch, chunk_bytes: int, final_newline: bool) -> None:
    from recgym.data import readers

    text = otto_lines(OTTO_SESSIONS)
    path = write(tmp_path, "train.jsonl", text if final_newline else text.rstrip("\n"))
    monkeypatch.setattr(readers, "_JSON_CHUNK", chunk_bytes)  # 1 and 7 bytes: chunks shorter than a line
    assert rows(read_otto(path, progress=False)) == OTTO_ROWS


@pytest.mark.parametrize("chunk_bytes", [1, 90, 1 << 26])
@pytest.mark.parametrize("final_newline", [True, False])
def test_a_bad_json_line_is_named_by_its_line_in_the_file(tmp_path, monkeypatch, chunk_bytes, final_newline) -> None:
    from recgym.data import readers

    good = otto_lines(OTTO_SESSIONS).splitlines()
    bad = '{"session": 99, "events": [{"aid": 2 "ts": 1000, "type": "clicks"}]}'
    text = "\n".join([*good, bad]) + ("\n" if final_newline else "")
    path = write(tmp_path, "train.jsonl", text)
    monkeypatch.setattr(readers, "_JSON_CHUNK", chunk_bytes)  # 1: each line its own chunk; 2^26: one chunk
    with pytest.raises(RecgymDataError, match=f"train.jsonl: JSON parse error: .* on line {len(good) + 1}$"):
        read_otto(path, progress=False)


@pytest.mark.parametrize("chunk_bytes", [90, 1 << 26])  # 90: the wide ids in a chunk of their own
def test_otto_ids_are_int32_when_they_fit_and_int64_beyond(tmp_path, monkeypatch, chunk_bytes: int) -> None:
    from recgym.data import readers

    monkeypatch.setattr(readers, "_JSON_CHUNK", chunk_bytes)
    events = read_otto(write(tmp_path, "small.jsonl", otto_lines(OTTO_SESSIONS)), progress=False)
    assert (events["session_id"].dtype, events["item_id"].dtype, events["timestamp"].dtype) == (
        "int32",
        "int32",
        "int64",
    )
    big = [(2**40, [(2**33, 1000, "clicks")]), *OTTO_SESSIONS]
    events = read_otto(write(tmp_path, "big.jsonl", otto_lines(big)), progress=False)
    assert (events["session_id"].dtype, events["item_id"].dtype) == ("int64", "int64")
    assert rows(events) == [(2**40, 2**33, 1000, CLICK), *OTTO_ROWS]


# ---------------------------------------------------------------- RC15 on written files


def test_rc15_clicks_then_buys(tmp_path: Path) -> None:
    write(tmp_path, "yoochoose-clicks.dat", CLICKS)
    write(tmp_path, "yoochoose-buys.dat", BUYS)
    expected = [(1, 214536502, 1396867869277, CLICK), (2, 214662742, 1396878997614, CLICK), *BUY_ROWS]
    assert rows(read_rc15(tmp_path, progress=False)) == expected
    assert rows(read_events(tmp_path, progress=False)) == expected


def test_rc15_keeps_duplicates_and_single_event_sessions(tmp_path: Path) -> None:
    line = "4,2014-04-07T10:51:09.277Z,7,0\n"
    write(tmp_path, "yoochoose-clicks.dat", line * 2 + "5,2014-04-07T10:51:10.000Z,8,0\n")
    write(tmp_path, "yoochoose-buys.dat", BUYS)
    events = read_rc15(tmp_path, progress=False)
    assert rows(events)[:3] == [(4, 7, 1396867869277, CLICK)] * 2 + [(5, 8, 1396867870000, CLICK)]


# ---------------------------------------------------------------- RetailRocket


def test_retailrocket_default_is_the_reference_mapping(tmp_path: Path, retailrocket_sample: str) -> None:
    write(tmp_path, "events.csv", retailrocket_sample)
    events = read_retailrocket(tmp_path, progress=False)
    assert rows(events) == [
        (5, 10, 0, CLICK),
        (5, 10, 60000, PURCHASE),
        (3, 20, 50000, CLICK),
        (5, 11, 7260000, CLICK),
        (5, 12, 7300000, CLICK),
        (3, 21, 10000, PURCHASE),
    ]
    assert rows(read_events(tmp_path, progress=False)) == rows(events)


def test_retailrocket_transactions_as_purchases(tmp_path: Path, retailrocket_sample: str) -> None:
    write(tmp_path, "events.csv", retailrocket_sample)
    events = read_retailrocket(tmp_path, purchase_event="transaction", progress=False)
    assert rows(events) == [
        (5, 10, 0, CLICK),
        (5, 10, 120000, PURCHASE),
        (3, 20, 50000, CLICK),
        (5, 11, 7260000, CLICK),
        (5, 12, 7300000, CLICK),
    ]


def test_retailrocket_rejects_unknown_purchase_event(tmp_path: Path, retailrocket_sample: str) -> None:
    write(tmp_path, "events.csv", retailrocket_sample)
    with pytest.raises(ValueError, match="purchase_event"):
        read_retailrocket(tmp_path, purchase_event="view")


# ---------------------------------------------------------------- generic tables


def test_read_table_sniffs_separators(tmp_path: Path) -> None:
    expected = [(1, 7, 1_000, CLICK), (1, 8, 2_500, CLICK)]
    for sep in ["\t", ",", ";"]:
        path = write(tmp_path, "log.txt", f"SessionId{sep}ItemId{sep}Time\n1{sep}7{sep}1\n1{sep}8{sep}2.5\n")
        assert rows(read_table(path, columns=GRU4REC_COLUMNS, timestamp_unit="s", progress=False)) == expected


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr-only"])
def test_read_table_any_line_ending(tmp_path: Path, newline: str) -> None:
    text = newline.join(["SessionId,ItemId,Time", "1,7,1", "1,8,2.5", ""])
    path = tmp_path / "log.csv"
    path.write_bytes(text.encode())
    table = read_table(path, columns=GRU4REC_COLUMNS, timestamp_unit="s", progress=False)
    assert rows(table) == [(1, 7, 1_000, CLICK), (1, 8, 2_500, CLICK)]


@pytest.mark.parametrize(
    ("unit", "value", "ms"),
    [
        ("s", "1396437466", 1396437466000),
        ("ms", "1396437466940", 1396437466940),
        ("us", "1396437466940123", 1396437466940),
        ("ns", "1396437466940123456", 1396437466940),
    ],
)
def test_read_table_timestamp_units(tmp_path: Path, unit: str, value: str, ms: int) -> None:
    path = write(tmp_path, "log.csv", f"session_id,item_id,timestamp\n1,2,{value}\n")
    assert rows(read_table(path, timestamp_unit=unit, progress=False)) == [(1, 2, ms, CLICK)]


def test_seconds_read_as_milliseconds_warn_and_one_column_for_two_names_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "session_id,item_id,timestamp\n1,2,1396437466\n1,3,1396437470\n")
    with pytest.warns(
        UserWarning, match="'timestamp' read as milliseconds puts the events in the first months of 1970"
    ):
        read_table(path, progress=False)  # the default unit is ms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_table(path, timestamp_unit="s", progress=False)
        read_table(write(tmp_path, "ms.csv", "session_id,item_id,timestamp\n1,2,1396437466940\n"), progress=False)
    with pytest.raises(InvalidOptionError, match="columns maps file column\\(s\\) \\['session_id'\\] to more than one"):
        read_table(path, columns={"session_id": "session_id", "item_id": "session_id"}, progress=False)


def test_ids_beyond_64_bits_and_files_in_another_encoding_get_a_hint(tmp_path: Path) -> None:
    big = write(tmp_path, "big.csv", "session_id,item_id,timestamp\n1,99999999999999999999,1000\n")
    with pytest.raises(RecgymDataError, match="expected an integer that fits in 64 bits"):
        read_table(big, progress=False)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("session_id,item_id,timestamp\n1,2,1000\n".encode("utf-16"))
    with pytest.raises(RecgymDataError, match="looks UTF-16 encoded and recgym reads UTF-8"):
        read_table(utf16, progress=False)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("session_id,item_id,timestamp\n1,café,1000\n".encode("latin-1"))
    with pytest.raises(RecgymDataError, match="not UTF-8 \\(latin-1\\?\\): convert it"):
        read_table(latin, progress=False)


def test_read_table_iso_timestamps_and_event_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "log.csv",
        "user,product,when,what\n"
        "1,2,2014-04-07T10:51:09.277Z,view\n"
        "1,3,2014-04-07T12:51:09.277+02:00,buy\n"
        "1,4,2014-04-07T10:51:10.000Z,hover\n",
    )
    columns = {"session_id": "user", "item_id": "product", "timestamp": "when", "event_type": "what"}
    kinds = {"view": EventType.CLICK, "buy": EventType.PURCHASE, "hover": None}
    events = read_table(path, columns=columns, event_types=kinds, progress=False)
    assert rows(events) == [(1, 2, 1396867869277, CLICK), (1, 3, 1396867869277, PURCHASE)]


def test_read_table_default_event_labels(tmp_path: Path) -> None:
    words = write(tmp_path, "words.csv", "session_id,item_id,timestamp,event_type\n1,2,3,click\n1,2,4,purchase\n")
    numbers = write(tmp_path, "numbers.tsv", "session_id\titem_id\ttimestamp\tevent_type\n1\t2\t3\t0\n1\t2\t4\t1\n")
    expected = [(1, 2, 3, CLICK), (1, 2, 4, PURCHASE)]
    assert rows(read_events(words, progress=False)) == expected
    assert rows(read_events(numbers, progress=False)) == expected


def test_read_table_parquet(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    table = pa.table({"s": [4, 4], "i": [9, 8], "t": pa.array([0, 1_500_000], pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, path)
    events = read_events(path, columns={"session_id": "s", "item_id": "i", "timestamp": "t"})
    assert rows(events) == [(4, 9, 0, CLICK), (4, 8, 1_500, CLICK)]


def test_read_table_rejects_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "session_id,item_id,timestamp\n1,2,3\n")
    with pytest.raises(ValueError, match="timestamp_unit"):
        read_table(path, timestamp_unit="days")
    with pytest.raises(ValueError, match="columns must map item_id and session_id or user_id"):
        read_table(path, columns={"session_id": "session_id"})


# ---------------------------------------------------------------- bad input


def test_missing_rc15_files_name_files_directory_and_card(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        read_rc15(tmp_path)
    message = assert_one_line_naming(error, str(tmp_path))
    assert all(name in message for name in RC15_FILES)
    assert "datasets/rc15.md" in message and "kaggle" in message.lower()

    write(tmp_path, "yoochoose-clicks.dat", CLICKS)
    with pytest.raises(DatasetNotFoundError) as error:
        read_events(tmp_path)
    message = assert_one_line_naming(error, "yoochoose-buys.dat")
    assert "yoochoose-clicks.dat" not in message


def test_missing_retailrocket_file_names_card(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        read_retailrocket(tmp_path / "nowhere")
    message = assert_one_line_naming(error, RETAILROCKET_FILES[0])
    assert "datasets/retailrocket.md" in message and "no such directory" in message


def test_missing_generic_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        read_events(tmp_path / "absent.jsonl")
    assert_one_line_naming(error, "absent.jsonl")
    with pytest.raises(DatasetNotFoundError) as error:
        read_events(tmp_path)
    assert_one_line_naming(error, str(tmp_path))


@pytest.mark.parametrize(
    ("clicks", "expected"),
    [
        ("", "empty"),
        ("session_id,timestamp,item_id,category\n1,2014-04-07T10:51:09.277Z,3,0\n", "header"),
        ("1,2014-04-07T10:51:09.277Z,3\n", "expected 4"),
        ("1,2014-04-07T10:51:09.277Z,3,0\n1,2014-04-07T10:51:09.277Z,3,0,9\n", "expected 4"),
        ("1,2014-04-07T10:51:09.277Z,3,0\n1,yesterday,3,0\n", "yesterday"),
        ("1,2014-04-07T10:51:09.277,3,0\n", "ISO-8601"),
        ("1,2014-04-07T10:51:09.277Z,-3,0\n", "negative item_id"),
        ("1,2014-04-07T10:51:09.277Z,3,0\n-1,2014-04-07T10:51:09.277Z,3,0\n", "negative session_id"),
        ("1,2014-04-07T10:51:09.277Z,,0\n", "missing item_id"),
        ("NaN,2014-04-07T10:51:09.277Z,3,0\n", "missing session_id"),
        ("1,2014-04-07T10:51:09.277Z,3.5,0\n", "3.5"),
        ("1,2014-04-07T10:51:09.277Z,abc,0\n", "abc"),
    ],
)
def test_bad_rc15_clicks(tmp_path: Path, clicks: str, expected: str) -> None:
    write(tmp_path, "yoochoose-clicks.dat", clicks)
    write(tmp_path, "yoochoose-buys.dat", BUYS)
    with pytest.raises(RecgymDataError) as error:
        read_rc15(tmp_path, progress=False)
    assert expected in assert_one_line_naming(error, "yoochoose-clicks.dat")


def test_bad_rc15_buys(tmp_path: Path) -> None:
    write(tmp_path, "yoochoose-clicks.dat", CLICKS)
    write(tmp_path, "yoochoose-buys.dat", "1,2014-04-06T11:26:24.127Z,214509260,0\n")
    with pytest.raises(RecgymDataError) as error:
        read_rc15(tmp_path, progress=False)
    assert "expected 5" in assert_one_line_naming(error, "yoochoose-buys.dat")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda text: text.replace("addtocart", "remove_from_cart"), "remove_from_cart"),
        (lambda text: text.replace("visitorid", "visitor"), "visitorid"),
        (lambda text: text.splitlines()[0] + "\n", "no events"),
        (lambda text: text.replace("50000,3,view", "sometime,3,view"), "sometime"),
        (lambda text: text.replace("50000,3,view,20", "50000,3,view,2e1"), "2e1"),
        (lambda text: text.replace("50000,3,view,20", "50000,3,,20"), "missing"),
    ],
    ids=["unknown-event", "missing-column", "header-only", "bad-timestamp", "float-item", "empty-event"],
)
def test_bad_retailrocket(tmp_path: Path, retailrocket_sample: str, damage, expected: str) -> None:
    write(tmp_path, "events.csv", damage(retailrocket_sample))
    with pytest.raises(RecgymDataError) as error:
        read_retailrocket(tmp_path, progress=False)
    assert expected in assert_one_line_naming(error, "events.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"session": 1, "events": [{"aid": 2, "ts": 3, "type": "returns"}]}\n', "returns"),
        ('{"session": 1, "events": [{"aid": "x", "ts": 3, "type": "clicks"}]}\n', "JSON"),
        ('{"session": 1, "events": [\n', "JSON"),
        ('{"session": 1, "events": [{"aid": -2, "ts": 3, "type": "clicks"}]}\n', "negative item_id"),
        ('{"session": 1, "events": []}\n', "no events"),
        ("", "empty"),
    ],
)
def test_bad_otto(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "train.jsonl", text)
    with pytest.raises(RecgymDataError) as error:
        read_otto(path, progress=False)
    assert expected in assert_one_line_naming(error, "train.jsonl")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("log.csv", "SessionId,ItemId,Time\n1,2,3\n", "pass columns="),
        ("log.csv", "session_id,item_id,timestamp,event_type\n1,2,3,like\n", "like"),
        ("log.csv", "session_id,item_id,timestamp\n1,2,3\n1,2\n", "expected 3"),
        ("log.csv", "session_id,item_id,timestamp\n1,2,noon\n", "noon"),
        ("log.parquet", "not parquet", "Parquet"),
        ("log.xlsx", "x", "unsupported file type"),
    ],
)
def test_bad_tables(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(RecgymDataError) as error:
        read_events(path, progress=False) if name.endswith(".csv") else read_events(path)
    assert expected in assert_one_line_naming(error, name)


def test_binary_bytes_named_csv_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(random.Random(0).randbytes(5000))
    with pytest.raises(RecgymDataError) as error:
        read_events(path, progress=False)
    assert "binary content, not a text table" in assert_one_line_naming(error, "log.csv")
