"""SASRec-based offline RL recommenders as d3rlpy algorithms."""

from agents.encoders import SASRecEncoder, SASRecEncoderFactory
