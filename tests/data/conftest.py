"""Fixtures of the data tests."""

from __future__ import annotations

import pytest

# RetailRocket rows: timestamp(ms), visitorid, event, itemid, transactionid; deliberately not sorted.
RETAILROCKET_SAMPLE = """timestamp,visitorid,event,itemid,transactionid
0,5,view,10,
60000,5,addtocart,10,
120000,5,transaction,10,900
50000,3,view,20,
7260000,5,view,11,
7300000,5,view,12,
10000,3,addtocart,21,
"""


@pytest.fixture
def retailrocket_sample() -> str:
    """The text of a tiny RetailRocket ``events.csv``: visitors 3 and 5, views, add-to-carts, one transaction."""
    return RETAILROCKET_SAMPLE
