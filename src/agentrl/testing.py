"""Checkers for text envs, for agentrl's envs and yours.

>>> import agentrl
>>> from agentrl.testing import check_text_env
>>> check_text_env(agentrl.make("frozenlake"))
"""

from __future__ import annotations

from agentrl.envs.checkers import GARBAGE_ACTIONS, check_aec_text_env, check_text_env

__all__ = ["GARBAGE_ACTIONS", "check_aec_text_env", "check_text_env"]
