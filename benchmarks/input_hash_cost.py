"""What hashing an input file whole costs: ``recgym.data.cache.file_fingerprint`` on RC15- and OTTO-scale files.

Every input of a dataset is fingerprinted by the sha256 of its whole content, so a same-size edit anywhere in it is
seen; the hash is kept in ``.input-hashes.json`` and reused while the file's size, mtime, ctime and inode stand. This
script writes the files with the synthetic generator (the RC15 clicks file of the official size, 1.33 GiB; OTTO's
``train.jsonl``, 10.5 GiB), or takes given files, and times a first hash and a memo reuse of each.

    .venv/bin/python benchmarks/input_hash_cost.py --rc15 --otto     # writes both (~4 min), then hashes them
    .venv/bin/python benchmarks/input_hash_cost.py FILE [FILE ...]   # existing files

A file just written is in the page cache, so the first hash measures sha256 itself; a file read cold from disk costs
at least its read time on top.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from prepare_otto_full import OTTO_EVENTS_PER_SESSION, OTTO_ITEMS, OTTO_SESSIONS


def time_hash(path: Path) -> None:
    """Print the first hash's seconds and GB/s, and the memo reuse's seconds."""
    from recgym.data.cache import file_fingerprint

    memo: dict = {}
    start = time.perf_counter()
    file_fingerprint(path, memo)
    first = time.perf_counter() - start
    start = time.perf_counter()
    file_fingerprint(path, memo)
    reuse = time.perf_counter() - start
    size = path.stat().st_size
    print(
        f"{path.name}: {size / 2**30:.2f} GiB, first hash {first:.1f} s ({size / 1e9 / first:.2f} GB/s), "
        f"memo reuse {reuse * 1e3:.2f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="existing files to hash")
    parser.add_argument("--rc15", action="store_true", help="write and hash an RC15-scale clicks file (1.33 GiB)")
    parser.add_argument("--otto", action="store_true", help="write and hash an OTTO-scale train.jsonl (10.5 GiB)")
    args = parser.parse_args()
    if not (args.files or args.rc15 or args.otto):
        parser.error("give files, --rc15 or --otto")
    from recgym.data.synthetic import SyntheticConfig, write_otto_file, write_rc15_files

    for path in args.files:
        time_hash(path)
    with tempfile.TemporaryDirectory(prefix="recgym-hash-") as temporary:
        folder = Path(temporary)
        if args.rc15:
            config = SyntheticConfig(n_sessions=9_250_000, short_session_share=0.45)  # prepare_rc15_full.py's
            clicks, buys = write_rc15_files(folder / "rc15", config, seed=0, progress=False)
            time_hash(clicks)
            clicks.unlink()
            buys.unlink()
        if args.otto:
            config = SyntheticConfig(
                n_sessions=OTTO_SESSIONS, n_items=OTTO_ITEMS,
                mean_session_length=OTTO_EVENTS_PER_SESSION, max_session_clicks=500,
            )  # fmt: skip
            time_hash(write_otto_file(folder / "train.jsonl", config, seed=0, progress=False))


if __name__ == "__main__":
    main()
