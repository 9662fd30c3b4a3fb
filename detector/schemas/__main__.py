"""``python -m detector.schemas``: regenerate the schema files from the pydantic models."""

import sys

from detector.schemas import main

if __name__ == "__main__":
    sys.exit(main())
