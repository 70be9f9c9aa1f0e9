"""The learned tagger's stage (stage.py: `train`, `latest_version`, `load_tagger`, `uncertain_ids`)
and its command (command.py: `stratagem tagger train | list`). The model: annotators/learned.py."""
from pipeline.tagger.stage import (
    TaggerError, latest_version, load_tagger, model_folder, train, training_set, uncertain_ids, versions,
)

__all__ = ["TaggerError", "latest_version", "load_tagger", "model_folder", "train", "training_set", "uncertain_ids",
           "versions"]
