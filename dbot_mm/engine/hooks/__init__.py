from .bad_files_hook import BadFilesError, BadFilesHook
from .bootstrap_hook import DBotBootstrapHook
from .checkpoint_hook import SafeCheckpointHook
from .knn_watch_hook import KNNWatchHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook
from .random_state_hook import RandomStateHook
from .run_record_hook import RunRecordHook

__all__ = [
    'BadFilesError', 'BadFilesHook', 'DBotBootstrapHook', 'RandomStateHook', 'SafeCheckpointHook',
    'NonFiniteLossHook', 'NonFiniteLossError', 'PreemptionHook', 'PREEMPTED_EXIT_CODE',
    'RunRecordHook', 'KNNWatchHook'
]
