"""The dataset a model was trained for: catalogue size, pad id, state size, item index and train split.

A model's item ``i`` means ``dataset.raw_item_ids[i]`` of the dataset it was trained on; on another dataset (another
log, other protocol options, another catalogue order) the same index is another item, and the model's scores are
silently meaningless. On the same log split another way (another ``seed``, other fractions or cut-offs), its test
sessions may be ones the model trained on, and its test numbers are silently inflated; in another synthetic world
(another ``generator_seed`` or world parameter) the logs differ too. So the contract holds a fingerprint of the
train split the model learned from (its sessions, items and event types, :func:`split_fingerprint`), which covers
the split mode, seed, fractions and the world that wrote the log. A :class:`DatasetContract` travels with a model so
that the entry points that take a model and a dataset (:func:`recgym.evaluate`, :func:`recgym.evaluate_online`,
``recgym evaluate``) refuse a mismatch:

- ``dataset.to_d3rlpy(...)`` tags the MDPDataset with its contract, and a recgym agent built from it (``fit`` or
  ``build_with_dataset``) carries it, and refuses to ``fit`` on another dataset's MDPDataset (call
  :func:`bind_contract` with the new dataset first to transfer); any other algorithm gets it from
  :func:`bind_contract`;
- :func:`recgym.save_model` writes it (from the model, or from ``dataset=``), :func:`recgym.load_model` restores it;
- the benchmark binds it to every run, so its checkpoints carry it.

A different item index under the same catalogue size, or a different train split, is refused unless the transfer is
deliberate (``allow_transfer=True``, ``recgym evaluate --allow-transfer``); a different catalogue size or state size
is always refused. A model without a contract is checked by catalogue and state size only; a contract written before
the train split was recorded (empty ``train_split``) is checked without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recgym.errors import InvalidOptionError

__all__ = [
    "CONTRACT_ATTRIBUTE",
    "DatasetContract",
    "bind_contract",
    "contract_of",
    "item_index_fingerprint",
    "split_fingerprint",
]

CONTRACT_ATTRIBUTE = "recgym_contract"
"""The attribute that holds a :class:`DatasetContract` on a model or an MDPDataset."""


def item_index_fingerprint(raw_item_ids: Any) -> str:
    """The first 16 hex digits of the sha256 of the raw item ids in index order (``str`` of each, one per line)."""
    text = "\n".join(map(str, list(raw_item_ids)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_fingerprint(*arrays: np.ndarray) -> str:
    """The first 16 hex digits of the sha256 of ``arrays`` (dtype, shape and bytes of each, in order)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class DatasetContract:
    """What a model needs of a dataset's observations and actions."""

    n_items: int
    pad_id: int
    state_size: int
    item_index: str
    """:func:`item_index_fingerprint` of the dataset's ``raw_item_ids``."""
    train_split: str = ""
    """:func:`split_fingerprint` of the train split (``SessionDataset.train_fingerprint``); empty: not recorded."""

    @classmethod
    def of(cls, dataset: Any) -> DatasetContract:
        """The contract of a :class:`recgym.SessionDataset`."""
        sizes = (int(dataset.n_items), int(dataset.pad_id), int(dataset.state_size))
        return cls(*sizes, dataset.item_index_fingerprint, dataset.train_fingerprint)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DatasetContract:
        """Inverse of :meth:`to_dict` (a dict without ``train_split`` is an older contract); ValueError otherwise."""
        try:
            sizes = (int(values["n_items"]), int(values["pad_id"]), int(values["state_size"]))
            return cls(*sizes, str(values["item_index"]), str(values.get("train_split", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a dataset contract: {values!r}") from error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``"<n_items> items, item index <fingerprint>, train split <fingerprint>"`` for messages."""
        return f"{self.n_items} items, item index {self.item_index}, train split {self.train_split or 'not recorded'}"

    def check(self, dataset: Any, *, allow_transfer: bool = False, check_split: bool = True) -> None:
        """Refuse ``dataset`` with one clear line (:class:`InvalidOptionError`) when it is not this contract's.

        ``check_split=False`` leaves out the train split (for a live world, whose users are in no split)."""
        name = getattr(dataset, "name", "the dataset")
        if dataset.n_items != self.n_items:
            raise InvalidOptionError(
                f"the model scores {self.n_items} items but {name} has {dataset.n_items}: it was trained on another "
                "catalogue"
            )
        if dataset.state_size != self.state_size:
            raise InvalidOptionError(
                f"the model was trained on states of {self.state_size} items but {name} has state_size="
                f"{dataset.state_size}: load the dataset with state_size={self.state_size}"
            )
        if allow_transfer:
            return
        if dataset.item_index_fingerprint != self.item_index:
            raise InvalidOptionError(
                f"the model was trained on another item index (fingerprint {self.item_index}, {name}: "
                f"{dataset.item_index_fingerprint}): its item i is not {name}'s item i; pass allow_transfer=True "
                "(recgym evaluate --allow-transfer) if the transfer is deliberate"
            )
        if check_split and self.train_split and dataset.train_fingerprint != self.train_split:
            raise InvalidOptionError(
                f"the model was trained on another train split (fingerprint {self.train_split}, {name}: "
                f"{dataset.train_fingerprint}): {name}'s val and test sessions may be ones it trained on; load the "
                "dataset with the model's seed, fractions and world options, or pass allow_transfer=True "
                "(recgym evaluate --allow-transfer) if the transfer is deliberate"
            )


def contract_of(obj: Any) -> DatasetContract | None:
    """The contract a model (or an MDPDataset of :meth:`SessionDataset.to_d3rlpy`) carries, if any."""
    contract = getattr(obj, CONTRACT_ATTRIBUTE, None)
    return contract if isinstance(contract, DatasetContract) else None


def bind_contract(obj: Any, dataset_or_contract: Any) -> None:
    """Make ``obj`` (a model) carry the contract of a dataset, or the given contract."""
    contract = (
        dataset_or_contract
        if isinstance(dataset_or_contract, DatasetContract)
        else DatasetContract.of(dataset_or_contract)
    )
    setattr(obj, CONTRACT_ATTRIBUTE, contract)
