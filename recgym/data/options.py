"""The options of :func:`recgym.load_dataset`, in typed groups: how the input is read (``reader``), how its sessions are
filtered and split (``protocol``), what each event earns (``rewards``), and the input-level options (a session gap, the
explicit val / test logs).

A caller gives each group either as keywords (``load_dataset(path, sep=";", split_mode="temporal", reward_click=0.5)``)
or as one object (``reader={"sep": ";"}``, ``protocol=ProtocolConfig(split_mode="temporal")``,
``rewards=Rewards(click=0.5)``), not both for one setting. :func:`dataset_options` sorts the keywords into the groups
and validates every value once, before anything is read; the reader's own keywords are checked against its signature
when the input is resolved (:mod:`recgym.data.sources`), since they depend on the file's format.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recgym.checks import check_number
from recgym.data.protocol import ProtocolConfig, protocol_config
from recgym.data.sessions import check_gap
from recgym.errors import InvalidOptionError

__all__ = ["INPUT_OPTIONS", "PROTOCOL_OPTIONS", "REWARD_OPTIONS", "DatasetOptions", "Rewards", "dataset_options"]

REWARD_OPTIONS = ("reward_click", "reward_purchase")
"""The reward group's keywords."""
INPUT_OPTIONS = ("session_gap_minutes", "test", "val")
"""Options of the input as a whole (not of one reader)."""
PROTOCOL_OPTIONS = tuple(f.name for f in dataclasses.fields(ProtocolConfig))
"""The protocol group's keywords: the fields of :class:`~recgym.data.protocol.ProtocolConfig`."""


@dataclass(frozen=True)
class Rewards:
    """The reward of a click and of a purchase event (the papers' 0.2 and 1.0)."""

    click: float = 0.2
    purchase: float = 1.0

    def __post_init__(self) -> None:
        check_number("reward_click", self.click)
        check_number("reward_purchase", self.purchase)
        object.__setattr__(self, "click", float(self.click))
        object.__setattr__(self, "purchase", float(self.purchase))

    def keywords(self) -> dict[str, float]:
        """As ``load_dataset`` keywords: ``{"reward_click": ..., "reward_purchase": ...}``."""
        return {"reward_click": self.click, "reward_purchase": self.purchase}


@dataclass(frozen=True)
class DatasetOptions:
    """:func:`~recgym.load_dataset`'s options after grouping and validation.

    ``reader``: the source's keywords (a reader's options, or the generator's fields for ``"synthetic"``).
    ``protocol``: a preset name (None: the dataset's own) and its field overrides, resolved by :meth:`protocol_for`.
    ``reward_overrides``: the reward keywords given, over the input's defaults (:meth:`rewards`). ``held_out``:
    explicit ``val`` / ``test`` logs.
    """

    reader: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    protocol_overrides: dict[str, Any] = field(default_factory=dict)
    reward_overrides: dict[str, float] = field(default_factory=dict)
    session_gap_minutes: float | None = None
    held_out: dict[str, Any] = field(default_factory=dict)

    def protocol_for(self, default_preset: str) -> ProtocolConfig:
        """The protocol: the chosen preset (else ``default_preset``, the dataset's) with the overrides applied."""
        return protocol_config(self.protocol or default_preset, **self.protocol_overrides)

    def rewards(self, default: Rewards | None = None) -> Rewards:
        """The rewards: ``default`` (None: the papers' 0.2 / 1.0; a slate log's world's) with the given ones applied."""
        default = default or Rewards()
        return Rewards(
            click=self.reward_overrides.get("reward_click", default.click),
            purchase=self.reward_overrides.get("reward_purchase", default.purchase),
        )


def _group(name: str, given: Mapping[str, Any] | None, keywords: dict[str, Any], names: tuple[str, ...] | None) -> dict:
    """The settings of one group: its object's (``given``) and its keywords (popped from ``keywords``), never both
    for one setting. ``names``: the group's keywords (None: every keyword left)."""
    taken = {key: keywords.pop(key) for key in list(keywords) if names is None or key in names}
    both = sorted(set(taken) & set(given or {}))
    if both:
        raise InvalidOptionError(f"{', '.join(both)} given twice: as a keyword and in {name}=")
    return {**(given or {}), **taken}


def dataset_options(
    keywords: Mapping[str, Any],
    *,
    reader: Mapping[str, Any] | None = None,
    protocol: str | ProtocolConfig | None = None,
    rewards: Rewards | None = None,
) -> DatasetOptions:
    """Sort ``load_dataset``'s keywords into groups and validate them (one line, InvalidOptionError, on a bad value).

    ``split=`` for the split mode is the former name of ``split_mode=``: accepted with a FutureWarning.
    """
    keywords = dict(keywords)
    if "split" in keywords:
        if "split_mode" in keywords:
            raise InvalidOptionError("give split_mode= (the split mode), not also its former name split=")
        warnings.warn(
            "load_dataset(split=...) is deprecated: the split mode ('random' or 'temporal') is split_mode=",
            FutureWarning,
            stacklevel=3,
        )
        keywords["split_mode"] = keywords.pop("split")
    if reader is not None and not isinstance(reader, Mapping):
        raise InvalidOptionError(f"reader= must be a mapping of reader options, got {type(reader).__name__}")
    if rewards is not None and not isinstance(rewards, Rewards):
        raise InvalidOptionError(f"rewards= must be a recgym.Rewards, got {type(rewards).__name__}")
    preset: str | None
    if isinstance(protocol, ProtocolConfig):
        preset, given_protocol = "generic", dataclasses.asdict(protocol)
    elif protocol is None or isinstance(protocol, str):
        preset, given_protocol = protocol, None
    else:
        raise InvalidOptionError(f"protocol= must be a preset name or a ProtocolConfig, got {type(protocol).__name__}")
    overrides = _group("protocol", given_protocol, keywords, PROTOCOL_OPTIONS)
    reward_keywords = _group("rewards", rewards.keywords() if rewards else None, keywords, REWARD_OPTIONS)
    gap = keywords.pop("session_gap_minutes", None)
    held_out = {name: keywords.pop(name) for name in ("val", "test") if keywords.get(name) is not None}
    for name in ("val", "test"):
        keywords.pop(name, None)
    if "val" in held_out and "test" not in held_out:
        raise InvalidOptionError("val= (an explicit val log) needs test= (an explicit test log) too")
    options = DatasetOptions(
        reader=_group("reader", reader, keywords, None),
        protocol=preset,
        protocol_overrides=overrides,
        reward_overrides=reward_keywords,
        session_gap_minutes=None if gap is None else check_gap(gap),
        held_out=held_out,
    )
    options.rewards()
    options.protocol_for(preset or "generic")  # a bad name or value fails here (the presets differ in filters only)
    return options
