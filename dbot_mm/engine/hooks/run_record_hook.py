"""Write ``run_record.json`` in the work dir: what the run was and what it measured.

The reporting tables (``dbot_mm/reporting``) read this record and mmengine's ``scalars.json``
instead of parsing log text.
"""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RunRecordHook(Hook):
    """Keep ``WORK_DIR/run_record.json`` up to date (rank 0 writes)."""
    priority = 'VERY_LOW'
