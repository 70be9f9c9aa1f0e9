"""The learned tagger's stage (stage.py: `train`, `learning_curve`, `latest_version`, `load_tagger`, `uncertain_ids`)
and its command (command.py: `stratagem tagger train | list`). The model: annotators/learned.py."""
from pipeline.tagger.stage import (
    TaggerError, latest_version, learning_curve, load_tagger, model_folder, run_config, train, training_set,
    uncertain_ids, versions,
)

__all__ = ["TaggerError", "latest_version", "learning_curve", "load_tagger", "model_folder", "run_config", "train",
           "training_set", "uncertain_ids", "versions"]
