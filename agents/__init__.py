"""Offline RL recommenders as d3rlpy algorithms, on SASRec or any other item-sequence backbone."""

from recgym.logs import import_gym_quietly

import_gym_quietly()  # before d3rlpy: no "Gym has been unmaintained" notice on import agents

from agents.ccql import SASRecCCQLConfig
from agents.cl4srec import CL4SRecConfig
from agents.co import SASRecCOConfig
from agents.encoders import (
    ENCODERS,
    CaserEncoderFactory,
    FMLPEncoderFactory,
    GRU4RecEncoderFactory,
    NextItNetEncoderFactory,
    SASRecEncoder,
    SASRecEncoderFactory,
)
from agents.gsasrec import GSASRecConfig
from agents.presets import AGENTS, PRESETS, PresetFile, make_config, read_preset_file
from agents.sa2c import SA2CConfig
from agents.sasrec import SASRecConfig
from agents.snqn import SNQNConfig
from agents.sqn import SQNConfig

__all__ = [
    "AGENTS",
    "ENCODERS",
    "PRESETS",
    "CL4SRecConfig",
    "CaserEncoderFactory",
    "FMLPEncoderFactory",
    "GRU4RecEncoderFactory",
    "GSASRecConfig",
    "NextItNetEncoderFactory",
    "PresetFile",
    "SA2CConfig",
    "SASRecCCQLConfig",
    "SASRecCOConfig",
    "SASRecConfig",
    "SASRecEncoder",
    "SASRecEncoderFactory",
    "SNQNConfig",
    "SQNConfig",
    "make_config",
    "read_preset_file",
]
