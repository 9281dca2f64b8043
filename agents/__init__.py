"""SASRec-based offline RL recommenders as d3rlpy algorithms."""

from agents.encoders import SASRecEncoder, SASRecEncoderFactory
from agents.ccql import SASRecCCQLConfig
from agents.co import SASRecCOConfig
from agents.presets import AGENTS, PRESETS, make_config
from agents.sa2c import SA2CConfig
from agents.sasrec import SASRecConfig
from agents.snqn import SNQNConfig
from agents.sqn import SQNConfig

__all__ = [
    "AGENTS",
    "PRESETS",
    "SA2CConfig",
    "SASRecCCQLConfig",
    "SASRecCOConfig",
    "SASRecConfig",
    "SASRecEncoder",
    "SASRecEncoderFactory",
    "SNQNConfig",
    "SQNConfig",
    "make_config",
]
