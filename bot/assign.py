"""Choosing an agent for a conversation, from the cached list of online agents.

Plain Python: the worker refreshes the online list (with each agent's current
session count) into Redis every few seconds; the request path reads it and
calls `pick_agent`. No API call ever happens here.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

RULES = ("least_active", "random", "pool")


@dataclass(frozen=True)
class Agent:
    account: str          # kf1001@demo_wallet_official
    nickname: str = ""
    accepted: int = 0     # sessions the agent holds now
    kf_id: str = ""       # the agent's number (工号), e.g. "1001"

    @property
    def number(self) -> str:
        """The 工号 users see and can verify, e.g. "KF1001"."""
        prefix = self.account.split("@", 1)[0]
        return prefix.upper() if prefix.lower().startswith("kf") else f"KF{self.kf_id or prefix}"


def pick_agent(agents: list[Agent], rule: str = "least_active", priority: bool = False,
               max_sessions: int = 0, rng: random.Random | None = None) -> Agent | None:
    """The agent to hand the user to, or None to leave it to WeChat's pool.

    `least_active` takes the agent with the fewest sessions (ties: list order);
    `random` any agent with room; `pool` never chooses (WeChat's own queue).
    A priority conversation always goes to the least loaded agent, full or not:
    a scam in progress must not wait behind routine questions.
    `max_sessions` > 0 leaves out agents at that load (except for priority).
    """
    if not agents:
        return None
    least = min(agents, key=lambda a: a.accepted)
    if priority:
        return least
    open_agents = [a for a in agents if not max_sessions or a.accepted < max_sessions]
    if rule == "pool" or not open_agents:
        return None
    if rule == "random":
        return (rng or random).choice(open_agents)
    return min(open_agents, key=lambda a: a.accepted)
