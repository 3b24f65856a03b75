from .bootstrap_hook import DBotBootstrapHook
from .checkpoint_hook import SafeCheckpointHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook
from .random_state_hook import RandomStateHook
from .run_record_hook import RunRecordHook

__all__ = [
    'DBotBootstrapHook', 'RandomStateHook', 'SafeCheckpointHook', 'NonFiniteLossHook',
    'NonFiniteLossError', 'PreemptionHook', 'PREEMPTED_EXIT_CODE', 'RunRecordHook'
]
