"""AutoPeri: generative modelling of periodic crystal structures."""

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError, CrystalError, DatasetError

__version__ = "0.1.0"
__all__ = ["AutoPeriError", "Crystal", "CrystalError", "DatasetError", "__version__"]
