"""Physics: a differentiable interatomic potential (CHGNet), physics losses, relaxation and energy above hull.

Import the submodules directly; only :mod:`autoperi.physics.chgnet_adapter` imports chgnet.
"""
