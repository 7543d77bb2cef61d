"""The training job's input channels: which are given, and their data.

`train` is required (`training` is accepted for it). `validation` replaces the random split. `holdout` is only
scored, never trained on nor written into the model directory. `champion` holds the model to score on the same
holdout rows, for a fair comparison; it needs `holdout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from esteira_model.data import ChannelConfig, read_channel, read_input_data_config
from esteira_model.errors import TrainingError
from esteira_model.paths import MLPaths

TRAIN_CHANNEL = "train"
LEGACY_TRAIN_CHANNEL = "training"
VALIDATION_CHANNEL = "validation"
HOLDOUT_CHANNEL = "holdout"
CHAMPION_CHANNEL = "champion"


@dataclass(frozen=True)
class Channels:
    train: pd.DataFrame
    validation: pd.DataFrame | None
    holdout: pd.DataFrame | None
    champion: Path | None  # the directory of the champion's model.tar.gz or model files

    def given_frames(self) -> dict[str, pd.DataFrame]:
        """The channels' data by channel name, for the ones given."""
        frames = {TRAIN_CHANNEL: self.train, VALIDATION_CHANNEL: self.validation, HOLDOUT_CHANNEL: self.holdout}
        return {name: frame for name, frame in frames.items() if frame is not None}


def read_channels(paths: MLPaths) -> Channels:
    configs = read_input_data_config(paths.input_data_config)

    def given(name: str) -> bool:
        # Declared to SageMaker, or present on disk (local runs have no inputdataconfig.json).
        return name in configs or paths.channel(name).exists()

    def read(name: str) -> pd.DataFrame:
        return read_channel(name, paths.channel(name), configs.get(name, ChannelConfig(None)).content_type)

    train_name = TRAIN_CHANNEL
    if not paths.channel(TRAIN_CHANNEL).exists() and paths.channel(LEGACY_TRAIN_CHANNEL).exists():
        train_name = LEGACY_TRAIN_CHANNEL
    champion = paths.channel(CHAMPION_CHANNEL) if given(CHAMPION_CHANNEL) else None
    if champion is not None and not given(HOLDOUT_CHANNEL):
        raise TrainingError(
            f"The {CHAMPION_CHANNEL!r} channel is given without a {HOLDOUT_CHANNEL!r} channel: the champion is "
            f"only scored on the holdout rows. Give both channels, or neither."
        )
    return Channels(
        train=read(train_name),
        validation=read(VALIDATION_CHANNEL) if given(VALIDATION_CHANNEL) else None,
        holdout=read(HOLDOUT_CHANNEL) if given(HOLDOUT_CHANNEL) else None,
        champion=champion,
    )
