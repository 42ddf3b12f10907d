"""FreeSWITCH-layout XML configuration: preprocessor, loaded tree, reload, diff, typed params."""

from .diff import ConfigDiff, DiffEntry, diff_configs
from .location import ConfigWarning, where
from .preprocess import Preprocessed, preprocess
from .tree import ConfigHolder, ReloadResult, XmlConfig, load

__all__ = [
    "ConfigDiff",
    "ConfigHolder",
    "ConfigWarning",
    "DiffEntry",
    "Preprocessed",
    "ReloadResult",
    "XmlConfig",
    "diff_configs",
    "load",
    "preprocess",
    "where",
]
