"""Test scaffolding, e.g. ``from tests.helpers.tiny_pretrain import tiny_cfg``: a tiny pretraining
with fault injection, forked tool runs, the ``tools/`` scripts as modules, a tiny CLIP file.
``tests/`` is a package, so pytest puts the repository root on ``sys.path``; a subprocess that
imports these needs it in ``PYTHONPATH``."""
