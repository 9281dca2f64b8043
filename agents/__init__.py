"""SASRec-based offline RL recommenders as d3rlpy algorithms."""
