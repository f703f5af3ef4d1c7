"""``python -m launcher`` is ``trtl``."""

from launcher.cli import main

main()
