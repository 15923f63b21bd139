"""`pulumi up` runs this file (Pulumi.yaml: runtime python, this directory).

Pulumi puts this directory, not the repository, on the import path; the program imports
`deploy.production.processes` (the process list) and its own modules as `deploy.azure.*`, so
the repository root goes on the path first.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.azure.options import options_from_config, secrets_from_config  # noqa: E402
from deploy.azure.stack import build_site, site_export  # noqa: E402

site_export(build_site(options_from_config(), secrets_from_config()))
