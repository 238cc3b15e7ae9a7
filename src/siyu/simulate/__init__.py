"""The demo simulator: a realistic, seeded and reproducible brand selling through three channels.

``generate(SimConfig(...))`` yields Segment messages (with their channel and true person) in time order;
``siyu.simulate.send`` delivers them through the tracking API or its in-process bulk path;
``siyu.simulate.truth`` keeps the true person behind every message for accuracy checks.
"""

from siyu.simulate.engine import Simulator, generate
from siyu.simulate.model import CHANNELS, SimConfig, SimEvent

__all__ = ["CHANNELS", "SimConfig", "SimEvent", "Simulator", "generate"]
