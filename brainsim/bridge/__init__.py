"""torch <-> Brian2 bridge: trained IPD networks as plain arrays (:mod:`.spec`), NIR export of the
project's models (:mod:`.nir_export`), NIR import (:mod:`.nir_import`) and NIR graphs simulated in
Brian2 (:mod:`.nir_brian2`). Nothing here imports torch at import time."""
