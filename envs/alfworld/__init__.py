"""ALFWorld (Shridhar et al., 2021): household tasks in text, on the ``alfworld`` package's own engine.

:mod:`~agentrl.envs.alfworld.tasks` generates tasks from the scene layouts the package
ships (the official game files are GitHub downloads, out of reach here) and checks each
one solvable; :mod:`~agentrl.envs.alfworld.env` is ``agentrl/ALFWorld-v0``, which plays
those or, with ``data_dir=``, the official games; :mod:`~agentrl.envs.alfworld.expert`
is the expert behind ``info["expert_action"]``.

Needs the ``alfworld`` extra (``alfworld``, which brings TextWorld with fast-downward).
"""
