"""``python -m mailchimp_emulator --host 127.0.0.1 --port 8765 …``"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
